import { describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { signJwt } from '../support/tokens';
import { callsHarness, placeCall } from './calls-helpers';
import { call, tokenRequest } from './helpers';

/**
 * The abuse controls on the calls route (lib/routes/calls.ts): the same
 * deny lists and geography, one daily quota per user across both routes,
 * the plan's call minutes (CALL_MINUTES_PER_DAY_<PLAN>), and the quota
 * circuit seeing the calls route's upstream failures.
 */

const h = callsHarness({ RATE_LIMIT_TOKEN: '1000/60', CALLS_MAX_CONCURRENT: '100' });
const endsIn = (body: unknown) => (body as { endsAt: number }).endsAt - Math.floor(Date.now() / 1000);

describe('the calls route runs the abuse controls', () => {
  it.each([
    ['a denied network', { DENY_IPS: '203.0.113.7' }, {}, 403, 'denied'],
    ['a denied user', { DENY_USERS: 'jwt:user-1' }, {}, 403, 'denied'],
    ['a blocked country (203.0.113.7 is AU in the packaged database)', { GEO_DENY_COUNTRIES: 'AU' }, {}, 403, 'geo_blocked'],
  ])('%s is refused before any call is placed', async (_label, env, options, status, code) => {
    h.configure(env);
    const res = await placeCall(options);
    expect(res).toMatchObject({ status, body: { error: code } });
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('one daily quota per user across both routes', async () => {
    h.configure({ RATE_LIMIT_TOKEN_DAILY: '2/86400' });
    const token = await signJwt({}, { subject: 'both-routes' });
    expect((await call(POST, tokenRequest({ token }))).status).toBe(200);
    expect((await placeCall({ token })).status).toBe(201);
    const third = await placeCall({ token });
    expect(third).toMatchObject({ status: 429, body: { error: 'rate_limited' } });
    expect(third.headers.get('RateLimit-Policy')).toContain('"token_daily";q=2;w=86400');
  });

  it("a plan's CALL_MINUTES_PER_DAY_<PLAN> sets its calls' budget; other users keep the default", async () => {
    h.configure({ PLANS: 'pro', CALL_MINUTES_PER_DAY: '1', CALL_MINUTES_PER_DAY_PRO: '30', CALL_MAX_SECONDS: '900' });
    const pro = await placeCall({ token: await signJwt({ plan: 'pro' }, { subject: 'pro-caller' }) });
    const free = await placeCall({ token: await signJwt({}, { subject: 'free-caller' }) });
    expect([pro.status, free.status]).toEqual([201, 201]);
    // Pro: the call's maximum (900 s) fits in 30 minutes; the default user has one minute left.
    expect(endsIn(pro.body)).toBeGreaterThan(890);
    expect(endsIn(free.body)).toBeLessThanOrEqual(60);
  });

  it('an exhausted quota met by the calls route opens the circuit for both routes', async () => {
    h.configure();
    h.upstream.setMode('quota');
    const first = await placeCall();
    expect(first.status).toBe(503);
    h.upstream.setMode('ok');
    expect((await call(POST, tokenRequest())).body?.error).toBe('upstream_quota_cooloff');
  });
});
