import { refuseLimited } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';

/** The general API limit per client IP (`RATE_LIMIT_API`, default 100/60). */
export const apiLimitGuard: GuardFactory = (config) => {
  const policy = config.rateLimits.api;
  return {
    name: 'api_limit',
    refuses: ['rate_limited'],
    async run(ctx) {
      const result = await ctx.rt.store.hit(ctx.ip, policy);
      ctx.limits.push(result);
      return result.allowed ? undefined : refuseLimited(ctx, result);
    },
  };
};
