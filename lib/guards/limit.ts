import type { AppConfig } from '../config';
import type { RatePolicy } from '../limits/store';
import type { Ctx } from '../pipeline/context';
import { refuseLimited } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';

/**
 * A guard that admits one unit of `policy` for the request's key and refuses
 * with 429 when none is left; the result always feeds the rate-limit headers.
 * `policyOf` may answer a function of the request (a plan's policy, lib/plans.ts).
 */
export function limitGuard(name: string, policyOf: (config: AppConfig) => RatePolicy | ((ctx: Ctx) => RatePolicy), keyOf: (ctx: Ctx) => string): GuardFactory {
  return (config) => {
    const policy = policyOf(config);
    return {
      name,
      refuses: ['rate_limited'],
      async run(ctx) {
        const result = await ctx.rt.store.hit(keyOf(ctx), typeof policy === 'function' ? policy(ctx) : policy);
        ctx.limits.push(result);
        ctx.rt.metrics.limiterDecision(result);
        return result.allowed ? undefined : refuseLimited(ctx, result);
      },
    };
  };
}

/** The per-user key: the verified user id, or the client IP where no user is known. */
export const userKey = (ctx: Ctx): string => ctx.identity?.userId ?? `ip:${ctx.ip}`;
