import type { RatePolicy } from '../limits/store';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

const retryAfter = (ms: number) => ({ 'Retry-After': String(Math.max(1, Math.ceil(ms / 1000))) });

/**
 * Per-user call budgets, exact and shared across instances with Redis
 * (lib/limits/store.ts):
 * - a concurrency slot (`CALLS_MAX_CONCURRENT`): a reservation that lives
 *   CALL_MAX_SECONDS plus grace and is released when the call ends;
 * - call seconds (`CALL_MINUTES_PER_DAY`): the call's maximum drawn up front,
 *   so its deadline never lies past what the user has left; the supervisor
 *   refunds the unused seconds at hang-up.
 * Whatever was taken is given back if a later step fails (lib/guards/place-call.ts).
 * A plan with `CALL_MINUTES_PER_DAY_<PLAN>` (lib/plans.ts) draws on its own daily budget.
 */
export const callBudgetGuard: GuardFactory = (config) => {
  const { concurrency, minutes: defaultMinutes, maxSeconds, minSeconds } = config.calls;
  const byPlan = new Map<string, RatePolicy>();
  for (const [plan, p] of config.plans.byName) {
    if (p.callMinutesPerDay !== undefined) byPlan.set(plan, { ...defaultMinutes, name: `${defaultMinutes.name}_${plan}`, limit: p.callMinutesPerDay * 60 });
  }
  return {
    name: 'call_budget',
    refuses: ['call_limit_reached', 'minutes_exhausted'],
    async run(ctx) {
      const user = ctx.identity?.userId ?? `ip:${ctx.ip}`;
      const slot = await ctx.rt.store.reserve(user, concurrency);
      ctx.rt.metrics.limiterDecision(slot);
      if (!slot.allowed) {
        return refuse(ctx, 'call_limit_reached', { metadata: { limit: slot.limit, reason: slot.reason }, headers: retryAfter(slot.retryAfterMs) });
      }
      const minutes = (ctx.identity?.plan !== undefined && byPlan.get(ctx.identity.plan)) || defaultMinutes;
      const seconds = await ctx.rt.store.draw(user, minutes, maxSeconds, minSeconds);
      ctx.rt.metrics.limiterDecision(seconds);
      if (!seconds.allowed) {
        await slot.release();
        return refuse(ctx, 'minutes_exhausted', { metadata: { limitSeconds: seconds.limit, reason: seconds.reason }, headers: retryAfter(seconds.retryAfterMs) });
      }
      ctx.callBudget = { slot, seconds, limitedBy: seconds.granted < maxSeconds ? 'budget' : 'max_duration' };
      return undefined;
    },
  };
};
