import { describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { signJwt } from '../support/tokens';
import { ALLOWED_ORIGIN, byStatus, call, PEER_IP, sequential, tokenRequest, routeHarness } from './helpers';

/**
 * Exact limits through the route: N per window, never N+1, sequentially and
 * concurrently; the injected clock moves the window; refused requests
 * consume nothing; the client cannot choose its rate-limit key.
 */

const h = routeHarness();

// Concurrent cases put up to 100 calls in flight to the loopback upstream at once; a generous
// deadline keeps a busy machine from turning admitted requests into 504s.
const UNDER_LOAD = { UPSTREAM_TIMEOUT_MS: '30000' };
// Concurrent valid requests from one IP each hold an auth-verification unit
// while they verify (lib/guards/auth-failure-limit.ts); room for all of them
// isolates the limit under test.
const MANY_VERIFICATIONS = { ...UNDER_LOAD, RATE_LIMIT_AUTH_FAILURES: '1000/300' };

describe('token limit per user (10/min)', () => {
  it('sequential: 10 × 200 with Remaining counting down, then 429', async () => {
    const token = await signJwt({}, { subject: 'alice' });
    const answers = await sequential(11, () => call(POST, tokenRequest({ token })));
    expect(answers.map((a) => a.status)).toEqual([...Array(10).fill(200), 429]);
    expect(answers.map((a) => a.headers.get('X-RateLimit-Remaining'))).toEqual(['9', '8', '7', '6', '5', '4', '3', '2', '1', '0', '0']);
    expect(answers[0].headers.get('X-RateLimit-Limit')).toBe('10');
    expect(answers[0].headers.get('RateLimit-Policy')).toBe('"api";q=100;w=60, "token";q=10;w=60, "token_daily";q=200;w=86400');
    expect(answers[0].headers.get('RateLimit')).toBe('"api";r=99;t=60, "token";r=9;t=60, "token_daily";r=199;t=86400');
    expect(answers[10].headers.get('Retry-After')).toBe('60');
    expect(h.upstream.requests).toHaveLength(10);
  });

  it('40 concurrent requests for one user: exactly 10 × 200 and 30 × 429', async () => {
    h.configure(UNDER_LOAD);
    const token = await signJwt({}, { subject: 'racer' });
    const requests = await Promise.all(Array.from({ length: 40 }, () => tokenRequest({ token })));
    const answers = await Promise.all(requests.map((req) => call(POST, req)));
    expect(byStatus(answers)).toEqual({ 200: 10, 429: 30 });
    expect(h.upstream.requests).toHaveLength(10);
    expect(h.events('token_issued')).toHaveLength(10);
  });

  it('60 concurrent requests spread over 4 users: exactly 10 each', async () => {
    h.configure(MANY_VERIFICATIONS);
    const tokens = await Promise.all(['u1', 'u2', 'u3', 'u4'].map((subject) => signJwt({}, { subject })));
    const requests = await Promise.all(Array.from({ length: 60 }, (_, i) => tokenRequest({ token: tokens[i % 4] })));
    const answers = await Promise.all(requests.map((req) => call(POST, req)));
    expect(byStatus(answers)).toEqual({ 200: 40, 429: 20 });
    const issued = h.events('token_issued').map((e) => e.userId);
    for (const subject of ['u1', 'u2', 'u3', 'u4']) expect(issued.filter((u) => u === `jwt:${subject}`)).toHaveLength(10);
  });

  it('the injected clock: 59.999 s later still refused, 60 s later a full window again', async () => {
    const token = await signJwt({}, { subject: 'clocked' });
    await sequential(10, () => call(POST, tokenRequest({ token })));
    h.rt.advance(30_000);
    const mid = await call(POST, tokenRequest({ token }));
    expect(mid.status).toBe(429);
    expect(mid.headers.get('Retry-After')).toBe('30');
    h.rt.advance(29_999);
    expect((await call(POST, tokenRequest({ token }))).status).toBe(429);
    h.rt.advance(1);
    const again = await sequential(11, () => call(POST, tokenRequest({ token })));
    expect(again.map((a) => a.status)).toEqual([...Array(10).fill(200), 429]);
  });

  it('sliding, not fixed: no burst of 2 × limit across a window boundary', async () => {
    const token = await signJwt({}, { subject: 'slider' });
    const at = async (n: number) => (await sequential(n, () => call(POST, tokenRequest({ token })))).map((a) => a.status);
    expect(await at(5)).toEqual(Array(5).fill(200)); // t = 0
    h.rt.advance(50_000);
    expect(await at(6)).toEqual([...Array(5).fill(200), 429]); // t = 50 s
    h.rt.advance(10_000);
    expect(await at(6)).toEqual([...Array(5).fill(200), 429]); // t = 60 s: only the first five have left
    h.rt.advance(49_999);
    expect(await at(1)).toEqual([429]); // t = 109.999 s: the five from t = 50 s are still inside
    h.rt.advance(1);
    expect(await at(6)).toEqual([...Array(5).fill(200), 429]);
  });

  it('refused requests consume no quota: hammering while limited does not push the window back', async () => {
    const token = await signJwt({}, { subject: 'hammer' });
    await sequential(10, () => call(POST, tokenRequest({ token })));
    for (let i = 0; i < 59; i++) {
      h.rt.advance(1_000);
      expect((await call(POST, tokenRequest({ token }))).status).toBe(429);
    }
    h.rt.advance(1_000);
    const again = await sequential(11, () => call(POST, tokenRequest({ token })));
    expect(again.map((a) => a.status)).toEqual([...Array(10).fill(200), 429]);
  });

  it('requests refused before the token limiter (401, 403, 415) consume no token quota', async () => {
    const token = await signJwt({}, { subject: 'careful' });
    await sequential(5, () => call(POST, tokenRequest({ token, origin: 'https://evil.example' })));
    await sequential(5, () => call(POST, tokenRequest({ token, contentType: 'text/plain' })));
    await sequential(5, () => call(POST, tokenRequest({ token, body: 'x'.repeat(20_000) })));
    const answers = await sequential(11, () => call(POST, tokenRequest({ token })));
    expect(answers.map((a) => a.status)).toEqual([...Array(10).fill(200), 429]);
  });

  it('users are keyed apart: one user at the limit does not affect another', async () => {
    const [a, b] = await Promise.all([signJwt({}, { subject: 'a' }), signJwt({}, { subject: 'b' })]);
    await sequential(10, () => call(POST, tokenRequest({ token: a })));
    expect((await call(POST, tokenRequest({ token: a }))).status).toBe(429);
    expect((await call(POST, tokenRequest({ token: b }))).status).toBe(200);
  });
});

describe('API limit per IP (100/min)', () => {
  it('concurrent: 130 requests from one IP, many users → exactly 100 admitted', async () => {
    h.configure(MANY_VERIFICATIONS);
    const tokens = await Promise.all(Array.from({ length: 13 }, (_, i) => signJwt({}, { subject: `ip-user-${i}` })));
    const requests = await Promise.all(Array.from({ length: 130 }, (_, i) => tokenRequest({ token: tokens[i % 13] })));
    const answers = await Promise.all(requests.map((req) => call(POST, req)));
    expect(byStatus(answers)).toEqual({ 200: 100, 429: 30 });
  });

  it('requests refused before the API limiter (403, 415, 413) consume no API quota', async () => {
    h.configure({ RATE_LIMIT_API: '3/60' });
    await sequential(10, () => call(POST, tokenRequest({ origin: 'https://evil.example' })));
    await sequential(10, () => call(POST, tokenRequest({ contentType: 'application/xml' })));
    await sequential(10, () => call(POST, tokenRequest({ body: 'x'.repeat(20_000) })));
    const answers = await sequential(4, () => call(POST, tokenRequest()));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
  });
});

describe('client IP from X-Forwarded-For', () => {
  const spoofs = ['1.2.3.4', '10.0.0.1', '127.0.0.1', '::1', 'unknown', '203.0.113.7, 9.9.9.9', 'not-an-ip', ''];

  it('TRUSTED_PROXY_HOPS=0: a client-prepended entry does not change the key; the socket peer (last entry) is used', async () => {
    h.configure({ RATE_LIMIT_API: '3/60', TRUSTED_PROXY_HOPS: '0' });
    const answers = await sequential(spoofs.length, (i) =>
      call(POST, tokenRequest({ forwardedFor: spoofs[i] ? `${spoofs[i]}, ${PEER_IP}` : PEER_IP })),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, ...Array(spoofs.length - 3).fill(429)]);
    expect(new Set(h.entries().map((e) => e.ip))).toEqual(new Set([PEER_IP]));
    // A different socket peer is a different client.
    expect((await call(POST, tokenRequest({ forwardedFor: `${PEER_IP}, 198.51.100.9` }))).status).toBe(200);
  });

  it('TRUSTED_PROXY_HOPS=1: the entry second from the right (what our proxy saw) is the client', async () => {
    h.configure({ RATE_LIMIT_API: '3/60', TRUSTED_PROXY_HOPS: '1' });
    const proxy = '10.0.0.2';
    const client = '198.51.100.50';
    const answers = await sequential(spoofs.length, (i) =>
      call(POST, tokenRequest({ forwardedFor: spoofs[i] ? `${spoofs[i]}, ${client}, ${proxy}` : `${client}, ${proxy}` })),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, ...Array(spoofs.length - 3).fill(429)]);
    expect(new Set(h.entries().map((e) => e.ip))).toEqual(new Set([client]));
    // Another client behind the same proxy has its own budget.
    const other = await call(POST, tokenRequest({ forwardedFor: `${client}, 198.51.100.51, ${proxy}` }));
    expect(other.status).toBe(200);
    expect(h.entries().at(-1)?.ip).toBe('198.51.100.51');
  });

  it('auth failures are keyed by the socket peer too: rotating a spoofed entry does not reset the 20-failure limit', async () => {
    const answers = await sequential(21, (i) =>
      call(POST, tokenRequest({ token: 'bad.token.value', forwardedFor: `192.0.2.${i}, ${PEER_IP}` })),
    );
    expect(answers.slice(0, 20).every((a) => a.status === 401)).toBe(true);
    expect(answers[20].status).toBe(429);
  });

  const sameKey: Array<[label: string, a: string, b: string]> = [
    ['IPv6 addresses in one /64', '2001:db8:1:2::1', '2001:db8:1:2:ffff::9'],
    ['IPv4-mapped IPv6 and IPv4', '::ffff:198.51.100.77', '198.51.100.77'],
    ['IPv4 with a port and without', '198.51.100.78:5555', '198.51.100.78'],
    ['bracketed IPv6 and bare', '[2001:db8:9::1]:443', '2001:db8:9::2'],
  ];

  it.each(sameKey)('%s share one key', async (_label, a, b) => {
    h.configure({ RATE_LIMIT_API: '1/60' });
    expect((await call(POST, tokenRequest({ forwardedFor: a }))).status).toBe(200);
    expect((await call(POST, tokenRequest({ forwardedFor: b }))).status).toBe(429);
  });

  it('IPv6 addresses in different /64s are different keys', async () => {
    h.configure({ RATE_LIMIT_API: '1/60' });
    expect((await call(POST, tokenRequest({ forwardedFor: '2001:db8:1:2::1' }))).status).toBe(200);
    expect((await call(POST, tokenRequest({ forwardedFor: '2001:db8:1:3::1' }))).status).toBe(200);
  });

  it('the origin of the browser does not change the key', async () => {
    h.configure({ RATE_LIMIT_API: '2/60' });
    const answers = await sequential(3, (i) =>
      call(POST, tokenRequest({ origin: [ALLOWED_ORIGIN, 'http://localhost:3000', null][i] })),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
  });
});
