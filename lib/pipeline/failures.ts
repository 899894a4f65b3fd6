import type { RateLimitResult } from '../limits/store';
import type { UpstreamError } from '../upstream';
import type { Ctx } from './context';
import { refuse } from './refuse';

/**
 * Counts a security failure for the client IP and logs `suspicious_activity`
 * when the IP reaches the threshold (once per burst: the limiter refuses
 * further counts until the window slides). The count is taken with one atomic
 * `hit`, so concurrent failures cannot skip the threshold line.
 */
export async function noteFailure(ctx: Ctx, kind: string): Promise<void> {
  // A dry-run refusal is not a failure the client met.
  if (ctx.dryRun !== undefined) return;
  const policy = ctx.rt.config.rateLimits.suspicious;
  const result = await ctx.rt.store.hit(ctx.ip, policy);
  ctx.rt.metrics.limiterDecision(result);
  if (result.allowed && result.remaining === 0) {
    ctx.log('critical', 'suspicious_activity', `Repeated security failures from ${ctx.ip}`, {
      lastFailure: kind,
      threshold: policy.limit,
      windowSeconds: policy.windowMs / 1000,
    });
  }
}

/** 429 for a refused limiter check; counts towards suspicious activity. */
export async function refuseLimited(ctx: Ctx, result: RateLimitResult): Promise<Response> {
  const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
  const answer = refuse(ctx, 'rate_limited', {
    message: `Rate limit exceeded for ${ctx.fields.userId ?? ctx.ip}`,
    metadata: { policy: result.policy.name, limit: result.limit, retryAfter, reason: result.reason },
  });
  await noteFailure(ctx, `rate_limit:${result.policy.name}`);
  return answer;
}

/**
 * The catalog answer for a failed upstream call, with Retry-After when OpenAI
 * asked for a wait; no upstream text. The failure is handed to
 * `ctx.onUpstreamFailure` first (the quota circuit, lib/guards/quota-circuit.ts).
 */
export async function refuseUpstream(ctx: Ctx, error: UpstreamError, message: string): Promise<Response> {
  await ctx.onUpstreamFailure?.(error);
  const headers = error.retryAfterSeconds ? { 'Retry-After': String(error.retryAfterSeconds) } : undefined;
  return refuse(ctx, error.code, { message, metadata: { ...error.detail }, headers });
}
