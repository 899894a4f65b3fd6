import type { Ctx } from '../pipeline/context';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/**
 * The quota circuit (`UPSTREAM_QUOTA_COOLOFF_SECONDS`, default 60): once
 * OpenAI answers that the account is out of quota or over its spending
 * limit, nobody's request is sent upstream for the cool-off; each gets 503
 * with `Retry-After` at once. The open circuit is one admit of a one-unit
 * policy in the limiter store, so with Redis every instance sees it, and the
 * instance whose admit opened it logs the one `critical` line. Each instance
 * asks the store at most once per second while the circuit is closed (and not
 * at all while it knows it open): one round trip per request would cost every
 * request the Redis latency, for a state that changes a few times a day.
 * `UPSTREAM_QUOTA_COOLOFF_SECONDS=0` turns the circuit off.
 */

/** How long an instance trusts a "closed" answer from the store. */
const RECHECK_MS = 1000;

// OpenAI's codes for an exhausted balance and a reached spending limit (lib/openai.ts keeps code and type).
const QUOTA_CODES = new Set(['insufficient_quota', 'billing_hard_limit_reached', 'billing_not_active']);

export function isQuotaExhausted(error: unknown): boolean {
  const detail = (error as { detail?: { errorCode?: unknown; errorType?: unknown } } | null)?.detail;
  return QUOTA_CODES.has(String(detail?.errorCode)) || QUOTA_CODES.has(String(detail?.errorType));
}

export const quotaCircuitGuard: GuardFactory = (config) => {
  const circuit = { name: 'quota_circuit', limit: 1, windowMs: config.wallet.quotaCooloffMs };
  const cooloffSeconds = circuit.windowMs / 1000;
  // Per process: until when the circuit is known open, and until when "closed" is trusted.
  let openUntil = 0;
  let closedUntil = 0;
  const trip = async (ctx: Ctx, error: unknown) => {
    if (!isQuotaExhausted(error)) return;
    const opened = await ctx.rt.store.hit('upstream', circuit);
    openUntil = ctx.rt.now() + (opened.allowed ? circuit.windowMs : opened.retryAfterMs);
    if (!opened.allowed) return;
    ctx.log('critical', 'quota_circuit_open', `OpenAI reports the quota or spending limit exhausted; not calling it for ${cooloffSeconds} s`, {
      errorCode: (error as { detail?: { errorCode?: string } }).detail?.errorCode,
      cooloffSeconds,
    });
  };
  return {
    name: 'quota_circuit',
    refuses: ['upstream_quota_cooloff'],
    async run(ctx) {
      if (circuit.windowMs === 0) return undefined;
      const now = ctx.rt.now();
      if (now >= openUntil && now >= closedUntil) {
        const state = await ctx.rt.store.peek('upstream', circuit);
        if (state.allowed) closedUntil = now + RECHECK_MS;
        else openUntil = now + state.retryAfterMs;
      }
      if (now >= openUntil) {
        ctx.onUpstreamFailure = (error) => trip(ctx, error);
        return undefined;
      }
      const retryAfter = Math.max(1, Math.ceil((openUntil - now) / 1000));
      return refuse(ctx, 'upstream_quota_cooloff', {
        message: 'Quota circuit open: OpenAI not called',
        metadata: { retryAfter },
        headers: { 'Retry-After': String(retryAfter) },
      });
    },
  };
};
