import type { Identity } from './auth';
import type { AppConfig, PlanPolicies } from './config';
import type { RatePolicy } from './limits/store';
import type { Ctx } from './pipeline/context';

/**
 * Plans: a verified claim names the user's plan (`plan` in an HS256 JWT; the
 * Clerk session claim `CLERK_PLAN_CLAIM`), and `PLANS` with its
 * `RATE_LIMIT_TOKEN_<PLAN>`, `RATE_LIMIT_TOKEN_DAILY_<PLAN>` and
 * `CALL_MINUTES_PER_DAY_<PLAN>` variables says what each plan gets. A plan the
 * configuration does not list, or no claim, gets the defaults. The claim is
 * read only from claims whose signature lib/auth.ts verified.
 */

const PLAN_NAME = /^[a-z0-9_]{1,32}$/;

/** The plan named at `path` (a claim name or a dotted path) in verified claims, lower-cased; undefined unless well-formed. */
export function planClaim(claims: Readonly<Record<string, unknown>>, path = 'plan'): string | undefined {
  let value: unknown = claims;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  if (typeof value !== 'string') return undefined;
  const plan = value.toLowerCase();
  return PLAN_NAME.test(plan) ? plan : undefined;
}

/** The policies of the identity's plan, or undefined for the defaults (the calls route reads `callMinutesPerDay` here). */
export function planOf(config: Pick<AppConfig, 'plans'>, identity: Identity | undefined): PlanPolicies | undefined {
  const plan = identity?.plan;
  return plan === undefined ? undefined : config.plans.byName.get(plan);
}

/** A limiter policy that follows the plan: fixed when no plans are configured, else chosen per request. */
export function planPolicy(config: AppConfig, pick: (plan: PlanPolicies) => RatePolicy, fallback: RatePolicy): RatePolicy | ((ctx: Ctx) => RatePolicy) {
  if (config.plans.byName.size === 0) return fallback;
  return (ctx) => {
    const plan = planOf(config, ctx.identity);
    return plan === undefined ? fallback : pick(plan);
  };
}
