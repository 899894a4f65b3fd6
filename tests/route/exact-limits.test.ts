import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { startRedis, type RedisServer } from '../support/redis';
import { signJwt } from '../support/tokens';
import { byStatus, call, routeHarness, tokenRequest } from './helpers';

/**
 * Limits that must hold under concurrency, not only in sequence: the number
 * of credential verifications per IP, and the one suspicious-activity line
 * per burst. Each case sends its requests at once, so a peek-then-record
 * guard lets them all through together and fails here.
 */

const h = routeHarness({ UPSTREAM_TIMEOUT_MS: '30000' });
let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.close();
});

// A token signed with another key: verification runs, and fails.
const forged = () => signJwt({}, { secret: 'x'.repeat(40) });

describe.each([
  ['memory store', () => ({})],
  ['Redis store', () => ({ REDIS_URL: redis.url, REDIS_TIMEOUT_MS: '2000', RATE_LIMIT_PREFIX: `exact-${Date.now()}:` })],
])('auth-failure limit (20 per 5 min per IP), %s', (_label, env) => {
  it('60 simultaneous wrongly signed tokens from one IP: exactly 20 verified and 401, 40 refused 429 with Retry-After', async () => {
    h.configure(env());
    const requests = await Promise.all(Array.from({ length: 60 }, async () => tokenRequest({ token: await forged() })));
    const answers = await Promise.all(requests.map((req) => call(POST, req)));
    expect(byStatus(answers)).toEqual({ 401: 20, 429: 40 });
    for (const a of answers.filter((x) => x.status === 429)) expect(Number(a.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(h.events('auth_failure')).toHaveLength(20);
    // The 21st attempt, sent alone, is still refused unverified.
    const after = await call(POST, tokenRequest({ token: await forged() }));
    expect(after.status).toBe(429);
    expect(h.events('auth_failure')).toHaveLength(20);
  });

  it('valid credentials give their unit back: with one unit left, valid requests keep verifying and a failure takes the last one', async () => {
    h.configure({ ...env(), RATE_LIMIT_TOKEN: '1000/60' });
    for (let i = 0; i < 19; i++) await call(POST, tokenRequest({ token: await forged() }));
    const token = await signJwt();
    let ok = 0;
    // One unit left: each valid request takes it and gives it back.
    for (let i = 0; i < 5; i++) if ((await call(POST, tokenRequest({ token }))).status === 200) ok++;
    expect(ok).toBe(5);
    expect((await call(POST, tokenRequest({ token: await forged() }))).status).toBe(401);
    expect((await call(POST, tokenRequest({ token }))).status).toBe(429);
  });
});

describe('suspicious activity (10 failures per 5 min per IP)', () => {
  it('60 simultaneous failures log exactly one suspicious_activity line', async () => {
    h.configure({ RATE_LIMIT_AUTH_FAILURES: '1000/300' });
    const requests = await Promise.all(Array.from({ length: 60 }, async () => tokenRequest({ token: await forged() })));
    const answers = await Promise.all(requests.map((req) => call(POST, req)));
    expect(byStatus(answers)).toEqual({ 401: 60 });
    expect(h.events('suspicious_activity')).toHaveLength(1);
  });
});
