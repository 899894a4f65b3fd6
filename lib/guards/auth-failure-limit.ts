import { refuseLimited } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';

/**
 * An IP over the auth-failure limit (`RATE_LIMIT_AUTH_FAILURES`, default
 * 20/300) is refused before its credentials are read or verified.
 */
export const authFailureLimitGuard: GuardFactory = (config) => {
  const policy = config.rateLimits.authFailures;
  return {
    name: 'auth_failure_limit',
    refuses: ['rate_limited'],
    async run(ctx) {
      const result = await ctx.rt.store.peek(ctx.ip, policy);
      if (result.allowed) return undefined;
      ctx.limits.push(result);
      return refuseLimited(ctx, result);
    },
  };
};
