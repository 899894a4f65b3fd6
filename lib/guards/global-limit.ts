import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/**
 * The global issuance breaker (`RATE_LIMIT_GLOBAL`, default 1000/60): one
 * exact window across every user and instance, so a wave of abused accounts
 * cannot run up the bill faster than this. 503 with `Retry-After` (the client
 * did nothing wrong: no suspicious-activity count), and one `critical` line
 * per tripped window across all instances (a one-admit latch in the store).
 * Its result never reaches the rate-limit headers: the remaining count would
 * tell every client how many keys the service issues.
 */
export const globalLimitGuard: GuardFactory = (config) => {
  const policy = config.wallet.global;
  const latch = { name: 'global_tripped', limit: 1, windowMs: policy.windowMs };
  const windowSeconds = policy.windowMs / 1000;
  return {
    name: 'global_limit',
    refuses: ['issuance_paused'],
    async run(ctx) {
      const result = await ctx.rt.store.hit('all', policy);
      ctx.rt.metrics.limiterDecision(result);
      if (result.allowed) return undefined;
      const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
      if (ctx.dryRun === undefined && (await ctx.rt.store.hit('all', latch)).allowed) {
        ctx.log('critical', 'global_limit_tripped', 'Global issuance breaker tripped: no new keys for anyone until the window slides', {
          limit: policy.limit,
          windowSeconds,
          retryAfter,
        });
      }
      return refuse(ctx, 'issuance_paused', {
        message: 'Global issuance limit reached',
        metadata: { limit: policy.limit, windowSeconds, retryAfter, reason: result.reason },
        headers: { 'Retry-After': String(retryAfter) },
      });
    },
  };
};
