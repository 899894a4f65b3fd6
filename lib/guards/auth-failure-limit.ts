import { refuseLimited } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';

/**
 * Bounds credential verifications per IP exactly (`RATE_LIMIT_AUTH_FAILURES`,
 * default 20/300): a unit is reserved atomically *before* the credential is
 * read, so concurrent attempts cannot all slip past a count taken earlier;
 * the authenticate guard releases it when the credential is valid, and a
 * failure keeps it. An IP with no unit left is refused unverified.
 */
export const authFailureLimitGuard: GuardFactory = (config) => {
  const policy = config.rateLimits.authFailures;
  return {
    name: 'auth_failure_limit',
    refuses: ['rate_limited'],
    async run(ctx) {
      const reserved = await ctx.rt.store.reserve(ctx.ip, policy);
      ctx.rt.metrics.limiterDecision(reserved);
      if (reserved.allowed) {
        ctx.authAttempt = reserved;
        return undefined;
      }
      ctx.limits.push(reserved);
      return refuseLimited(ctx, reserved);
    },
  };
};
