import { beforeAll, describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { loadConfig } from '@/lib/config';
import { planClaim, planOf } from '@/lib/plans';
import { createClerkTestKeys, signJwt, unsignedJwt, type ClerkTestKeys } from '../support/tokens';
import { call, routeHarness, sequential, tokenRequest } from './helpers';

/**
 * Plans (lib/plans.ts): a verified claim selects the policy set; anything a
 * client can say without a valid signature, or a plan the operator did not
 * configure, gets the defaults. PLANS=pro with 20 tokens/min and 30/day;
 * the defaults here are 10/min and 5/day.
 */

const PLANS = { PLANS: 'pro', RATE_LIMIT_TOKEN_PRO: '20/60', RATE_LIMIT_TOKEN_DAILY_PRO: '30/86400', RATE_LIMIT_TOKEN_DAILY: '12/86400', CALL_MINUTES_PER_DAY_PRO: '600' };
const h = routeHarness({ ...PLANS, RATE_LIMIT_API: '10000/60' });

/** Tokens issued to one user, one request after another, until the first refusal (at most 40). */
async function issued(token: string): Promise<{ count: number; policy: string | null }> {
  const answers = await sequential(40, (i) => call(POST, tokenRequest({ token, forwardedFor: `198.51.100.${i}` })));
  const count = answers.findIndex((a) => a.status !== 200);
  return { count: count === -1 ? 40 : count, policy: answers[0].headers.get('RateLimit-Policy') };
}

describe('what selects a plan', () => {
  const cases: Array<[label: string, claims: Record<string, unknown>, plan: 'pro' | 'default']> = [
    ['a verified plan claim', { plan: 'pro' }, 'pro'],
    ['the same plan in upper case', { plan: 'PRO' }, 'pro'],
    ['a plan the configuration does not list', { plan: 'enterprise' }, 'default'],
    ['no plan claim', {}, 'default'],
    ['a number', { plan: 1 }, 'default'],
    ['an array holding the plan', { plan: ['pro'] }, 'default'],
    ['an object holding the plan', { plan: { name: 'pro' } }, 'default'],
    ['a plan with trailing space', { plan: 'pro ' }, 'default'],
    ['a plan with a NUL', { plan: 'pro\u0000' }, 'default'],
    ['a path-like plan', { plan: '../pro' }, 'default'],
    ['__proto__ games', { ['__proto__']: { plan: 'pro' } }, 'default'],
  ];

  it.each(cases)('%s → %s', async (_label, claims, plan) => {
    const result = await issued(await signJwt(claims, { subject: `u-${Math.random()}` }));
    // Pro: 20 per minute binds before its 30 per day; defaults: 10 per minute, then 12 per day, 10 binds.
    expect(result.count).toBe(plan === 'pro' ? 20 : 10);
    expect(result.policy).toBe(plan === 'pro' ? '"api";q=10000;w=60, "token_pro";q=20;w=60, "token_daily_pro";q=30;w=86400' : '"api";q=10000;w=60, "token";q=10;w=60, "token_daily";q=12;w=86400');
  });

  it('a plan claim in a token that does not verify selects nothing: 401', async () => {
    for (const token of [await signJwt({ plan: 'pro' }, { secret: 'x'.repeat(40) }), unsignedJwt({ sub: 'mallory', plan: 'pro', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 })]) {
      expect((await call(POST, tokenRequest({ token }))).status).toBe(401);
    }
  });

  it("the plan's daily quota replaces the default one", async () => {
    h.configure({ RATE_LIMIT_TOKEN: '1000/60', RATE_LIMIT_TOKEN_PRO: '1000/60' });
    expect((await issued(await signJwt({ plan: 'pro' }, { subject: 'daily-pro' }))).count).toBe(30);
    expect((await issued(await signJwt({}, { subject: 'daily-default' }))).count).toBe(12);
  });
});

describe('Clerk session claims (CLERK_PLAN_CLAIM)', () => {
  let clerk: ClerkTestKeys;
  beforeAll(async () => {
    clerk = await createClerkTestKeys();
  });
  const clerkEnv = () => ({ CLERK_SECRET_KEY: clerk.secretKey, NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: clerk.publishableKey, CLERK_JWT_KEY: clerk.publicKeyPem });

  it.each([
    ['the default claim name', {}, { plan: 'pro' }, 20],
    ['a configured dotted path', { CLERK_PLAN_CLAIM: 'metadata.plan' }, { metadata: { plan: 'pro' } }, 20],
    ['the default name when a path is configured', { CLERK_PLAN_CLAIM: 'metadata.plan' }, { plan: 'pro' }, 10],
    ['a path that ends in an object', { CLERK_PLAN_CLAIM: 'metadata' }, { metadata: { plan: 'pro' } }, 10],
  ])('%s', async (_label, env, claims, count) => {
    h.configure({ ...clerkEnv(), ...env });
    const token = await clerk.sign({ sub: `user_${Math.random().toString(36).slice(2)}`, claims, expiresIn: 300 });
    expect((await issued(token)).count).toBe(count);
  });
});

describe('the hook the calls route reads', () => {
  it('planOf gives the plan policies, CALL_MINUTES_PER_DAY_<PLAN> included; unknown or no plan gives undefined', () => {
    const config = loadConfig(PLANS);
    expect(planOf(config, { userId: 'jwt:a', method: 'jwt', plan: 'pro' })?.callMinutesPerDay).toBe(600);
    expect(planOf(config, { userId: 'jwt:a', method: 'jwt', plan: 'free' })).toBeUndefined();
    expect(planOf(config, { userId: 'jwt:a', method: 'jwt' })).toBeUndefined();
    expect(planOf(config, undefined)).toBeUndefined();
  });

  it('planClaim reads own properties only, and only well-formed names', () => {
    expect(planClaim({ plan: 'Team_2' })).toBe('team_2');
    expect(planClaim(Object.create({ plan: 'pro' }) as Record<string, unknown>)).toBeUndefined();
    expect(planClaim({ a: { b: { plan: 'pro' } } }, 'a.b.plan')).toBe('pro');
    expect(planClaim({ a: null }, 'a.plan')).toBeUndefined();
    expect(planClaim({ plan: 'x'.repeat(33) })).toBeUndefined();
  });
});
