import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { isQuotaExhausted } from '@/lib/guards/quota-circuit';
import { UpstreamError } from '@/lib/openai';
import { twoInstances } from '../support/instances';
import { startRedis, type RedisServer } from '../support/redis';
import { signJwt } from '../support/tokens';
import { byStatus, call, headerText, routeHarness, tokenRequest } from './helpers';

/**
 * The wallet: the per-user daily quota (lib/guards/token-daily.ts), the global
 * issuance breaker (lib/guards/global-limit.ts) and the quota circuit
 * (lib/guards/quota-circuit.ts). Each is tried the way a bill gets run up:
 * bursts, many accounts at once, a quota-exhausted upstream hammered anyway,
 * and two instances on one Redis.
 */

const h = routeHarness({ RATE_LIMIT_TOKEN: '1000/60', RATE_LIMIT_API: '10000/60' });
let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.close();
});

const users = (n: number, prefix = 'user') => Promise.all(Array.from({ length: n }, (_, i) => signJwt({}, { subject: `${prefix}-${i}` })));

describe('daily quota per user (RATE_LIMIT_TOKEN_DAILY)', () => {
  it('40 simultaneous requests for one user against 20/day: exactly 20 keys, 20 × 429 naming the daily policy', async () => {
    h.configure({ RATE_LIMIT_TOKEN_DAILY: '20/86400' });
    const token = await signJwt({}, { subject: 'spender' });
    // From 40 addresses: more than 20 verifications at once from one address wait for an auth-failure unit.
    const requests = await Promise.all(Array.from({ length: 40 }, (_, i) => tokenRequest({ token, forwardedFor: `198.51.100.${i}` })));
    const answers = await Promise.all(requests.map((req) => call(POST, req)));
    expect(byStatus(answers)).toEqual({ 200: 20, 429: 20 });
    expect(h.upstream.requests).toHaveLength(20);
    const refused = answers.filter((a) => a.status === 429);
    for (const a of refused) {
      expect(a.body).toMatchObject({ error: 'rate_limited' });
      expect(a.headers.get('X-RateLimit-Limit')).toBe('20');
      expect(Number(a.headers.get('Retry-After'))).toBeGreaterThan(86_000);
    }
    expect(h.events('rate_limit_exceeded').every((e) => (e.metadata as { policy: string }).policy === 'token_daily')).toBe(true);
  });

  it('slides over any 24 hours (no reset at midnight); other users are untouched', async () => {
    const rt = h.configure({ RATE_LIMIT_TOKEN_DAILY: '3/86400' });
    const token = await signJwt({}, { subject: 'daily' });
    const send = async () => (await call(POST, tokenRequest({ token }))).status;
    expect([await send(), await send()]).toEqual([200, 200]);
    rt.advance(12 * 3_600_000);
    expect([await send(), await send()]).toEqual([200, 429]);
    expect((await call(POST, tokenRequest({ token: await signJwt({}, { subject: 'other' }) }))).status).toBe(200);
    // 24 h after the first two: those two slots free up, the third (12 h later) still counts.
    rt.advance(12 * 3_600_000 + 1000);
    expect([await send(), await send(), await send()]).toEqual([200, 200, 429]);
  });

  it('holds across two instances on one Redis: 30 requests alternating between them, exactly 20 keys', async () => {
    const two = twoInstances(redis.url, h.upstream.baseUrl, { RATE_LIMIT_TOKEN: '1000/60', RATE_LIMIT_TOKEN_DAILY: '20/86400' });
    try {
      const token = await signJwt({}, { subject: 'two-daily' });
      const requests = await Promise.all(Array.from({ length: 30 }, (_, i) => tokenRequest({ token, forwardedFor: `198.51.100.${i}` })));
      const answers = await Promise.all(requests.map((req, i) => two.send(i % 2, req)));
      expect(byStatus(answers)).toEqual({ 200: 20, 429: 10 });
      expect(two.all.every((rt) => rt.entries().some((e) => e.event === 'token_issued'))).toBe(true);
    } finally {
      await two.close();
    }
  });
});

describe('global issuance breaker (RATE_LIMIT_GLOBAL)', () => {
  it('40 accounts at once against 15/min: exactly 15 keys, 25 × 503 issuance_paused, one critical line, no suspicion', async () => {
    h.configure({ RATE_LIMIT_GLOBAL: '15/60' });
    const tokens = await users(40);
    const requests = await Promise.all(tokens.map((token, i) => tokenRequest({ token, forwardedFor: `198.51.100.${i}` })));
    const answers = await Promise.all(requests.map((req) => call(POST, req)));
    expect(byStatus(answers)).toEqual({ 200: 15, 503: 25 });
    expect(h.upstream.requests).toHaveLength(15);
    for (const a of answers.filter((x) => x.status === 503)) {
      expect(a.body).toMatchObject({ error: 'issuance_paused' });
      expect(Number(a.headers.get('Retry-After'))).toBeGreaterThan(0);
    }
    const tripped = h.events('global_limit_tripped');
    expect(tripped).toHaveLength(1);
    expect(tripped[0]).toMatchObject({ level: 'critical', metadata: { limit: 15, windowSeconds: 60 } });
    // Twelve more from one address: were these refusals counted as its failures, suspicious_activity would fire at ten.
    for (const token of tokens.slice(0, 12)) expect((await call(POST, tokenRequest({ token }))).status).toBe(503);
    expect(h.events('suspicious_activity')).toEqual([]);
    expect(h.events('global_limit_tripped')).toHaveLength(1);
  });

  it('never tells a client how many keys the service issues: no global policy in any header', async () => {
    h.configure({ RATE_LIMIT_GLOBAL: '2/60' });
    const answers = [];
    for (const token of await users(3, 'peek')) answers.push(await call(POST, tokenRequest({ token })));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 503]);
    for (const a of answers) expect(headerText(a.headers)).not.toMatch(/global/i);
  });

  it('requests refused before the upstream step spend nothing of it', async () => {
    h.configure({ RATE_LIMIT_GLOBAL: '2/60' });
    const [a, b] = await users(2, 'early');
    for (let i = 0; i < 5; i++) expect((await call(POST, tokenRequest({ token: a, body: { voice: 'nope' } }))).status).toBe(400);
    expect((await call(POST, tokenRequest({ token: a }))).status).toBe(200);
    expect((await call(POST, tokenRequest({ token: b }))).status).toBe(200);
  });

  it('holds across two instances on one Redis: exactly 15 keys for 40 accounts, one critical line in total', async () => {
    const two = twoInstances(redis.url, h.upstream.baseUrl, { RATE_LIMIT_TOKEN: '1000/60', RATE_LIMIT_API: '10000/60', RATE_LIMIT_GLOBAL: '15/60' });
    try {
      const requests = await Promise.all((await users(40, 'two-global')).map((token, i) => tokenRequest({ token, forwardedFor: `198.51.100.${i}` })));
      const answers = await Promise.all(requests.map((req, i) => two.send(i % 2, req)));
      expect(byStatus(answers)).toEqual({ 200: 15, 503: 25 });
      expect(two.events('global_limit_tripped')).toHaveLength(1);
    } finally {
      await two.close();
    }
  });
});

describe('quota circuit (UPSTREAM_QUOTA_COOLOFF_SECONDS)', () => {
  it('after insufficient_quota, nobody reaches OpenAI for the cool-off: 503 with Retry-After at once, one critical line', async () => {
    const rt = h.configure({ UPSTREAM_QUOTA_COOLOFF_SECONDS: '60' });
    h.upstream.setMode('quota');
    const first = await call(POST, tokenRequest());
    expect(first).toMatchObject({ status: 503, body: { error: 'upstream_rate_limited' } });
    expect(h.upstream.requests).toHaveLength(1);
    const answers = [];
    for (const token of await users(10, 'after-quota')) answers.push(await call(POST, tokenRequest({ token })));
    expect(answers.every((a) => a.status === 503 && a.body?.error === 'upstream_quota_cooloff')).toBe(true);
    expect(answers.map((a) => Number(a.headers.get('Retry-After')))).toEqual(Array(10).fill(60));
    expect(h.upstream.requests).toHaveLength(1);
    expect(h.events('quota_circuit_open')).toHaveLength(1);
    expect(h.events('quota_circuit_open')[0]).toMatchObject({ level: 'critical', metadata: { errorCode: 'insufficient_quota', cooloffSeconds: 60 } });

    // The cool-off ends by itself; the next request goes upstream again.
    h.upstream.setMode('ok');
    rt.advance(30_000);
    expect(Number((await call(POST, tokenRequest())).headers.get('Retry-After'))).toBe(30);
    rt.advance(30_001);
    expect((await call(POST, tokenRequest())).status).toBe(200);
    expect(h.upstream.requests).toHaveLength(2);
  });

  it('a spending-limit answer opens it too; a plain upstream rate limit or 5xx does not', async () => {
    for (const [mode, opens] of [['spendlimit', true], ['ratelimit', false], ['error500', false], ['unauthorized', false]] as const) {
      h.configure();
      h.upstream.requests.length = 0;
      h.upstream.setMode(mode);
      await call(POST, tokenRequest());
      const next = await call(POST, tokenRequest());
      expect(next.body?.error === 'upstream_quota_cooloff', mode).toBe(opens);
      expect(h.upstream.requests, mode).toHaveLength(opens ? 1 : 2);
    }
  });

  it('UPSTREAM_QUOTA_COOLOFF_SECONDS=0 turns it off: every request goes upstream', async () => {
    h.configure({ UPSTREAM_QUOTA_COOLOFF_SECONDS: '0' });
    h.upstream.setMode('quota');
    for (let i = 0; i < 3; i++) expect((await call(POST, tokenRequest())).body?.error).toBe('upstream_rate_limited');
    expect(h.upstream.requests).toHaveLength(3);
    expect(h.events('quota_circuit_open')).toEqual([]);
  });

  it('20 simultaneous requests meeting an exhausted quota open it once', async () => {
    h.configure();
    h.upstream.setMode('quota');
    const requests = await Promise.all((await users(20, 'burst')).map((token, i) => tokenRequest({ token, forwardedFor: `198.51.100.${i}` })));
    await Promise.all(requests.map((req) => call(POST, req)));
    expect(h.events('quota_circuit_open')).toHaveLength(1);
  });

  it.each([
    ['insufficient_quota code', { errorCode: 'insufficient_quota' }, true],
    ['insufficient_quota type', { errorType: 'insufficient_quota' }, true],
    ['billing hard limit', { errorCode: 'billing_hard_limit_reached' }, true],
    ['inactive billing', { errorCode: 'billing_not_active' }, true],
    ['rate limit', { errorCode: 'rate_limit_exceeded', errorType: 'requests' }, false],
    ['no code', {}, false],
  ])('recognises %s: %s', (_label, detail, quota) => {
    expect(isQuotaExhausted(new UpstreamError('upstream_rate_limited', { reason: 'x', ...detail }))).toBe(quota);
  });

  it('holds across two instances on one Redis: one instance meets the exhausted quota, the other stops calling within a second', async () => {
    const two = twoInstances(redis.url, h.upstream.baseUrl, { UPSTREAM_QUOTA_COOLOFF_SECONDS: '60' });
    try {
      // Instance 1 has just seen the circuit closed: it trusts that for at most a second.
      expect((await two.send(1, tokenRequest())).status).toBe(200);
      h.upstream.setMode('quota');
      expect((await two.send(0, tokenRequest())).body?.error).toBe('upstream_rate_limited');
      h.upstream.setMode('ok');
      two.all[1].advance(1001);
      const other = await two.send(1, tokenRequest());
      expect(other.body?.error).toBe('upstream_quota_cooloff');
      expect(Number(other.headers.get('Retry-After'))).toBeGreaterThan(50);
      expect(h.upstream.requests).toHaveLength(2);
      // Instance 0 knows it open without asking again.
      expect((await two.send(0, tokenRequest())).body?.error).toBe('upstream_quota_cooloff');
      expect(h.upstream.requests).toHaveLength(2);
    } finally {
      await two.close();
    }
  });
});
