import { refuseLimited } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';

/** Token issuance limit per user (`RATE_LIMIT_TOKEN`, default 10/60); per IP where no user is known. */
export const tokenLimitGuard: GuardFactory = (config) => {
  const policy = config.rateLimits.token;
  return {
    name: 'token_limit',
    refuses: ['rate_limited'],
    async run(ctx) {
      const result = await ctx.rt.store.hit(ctx.identity?.userId ?? `ip:${ctx.ip}`, policy);
      ctx.limits.push(result);
      return result.allowed ? undefined : refuseLimited(ctx, result);
    },
  };
};
