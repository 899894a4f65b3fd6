import type { AppConfig } from '../config';
import type { RatePolicy } from '../limits/store';
import type { Ctx } from '../pipeline/context';
import { refuseLimited } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';

/**
 * A guard that admits one unit of `policy` for the request's key and refuses
 * with 429 when none is left; the result always feeds the rate-limit headers.
 */
export function limitGuard(name: string, policyOf: (config: AppConfig) => RatePolicy, keyOf: (ctx: Ctx) => string): GuardFactory {
  return (config) => {
    const policy = policyOf(config);
    return {
      name,
      refuses: ['rate_limited'],
      async run(ctx) {
        const result = await ctx.rt.store.hit(keyOf(ctx), policy);
        ctx.limits.push(result);
        return result.allowed ? undefined : refuseLimited(ctx, result);
      },
    };
  };
}
