import { describe, expect, it } from 'vitest';
import { register as globalRegistry } from 'prom-client';
import { DELETE, GET, HEAD, POST } from '@/app/api/metrics/route';
import { POST as TOKEN } from '@/app/api/realtime/token/route';
import { getRuntime } from '@/lib/runtime';
import { freePort } from '../support/redis';
import { samples, value } from '../support/metrics';
import { signJwt } from '../support/tokens';
import { call, expectHeaders, read, routeHarness, SECURITY_HEADERS, THROUGH_DOOR, tokenRequest, type Answer, PEER_IP, ALLOWED_ORIGIN } from './helpers';

/**
 * GET /api/metrics: served only with METRICS_TOKEN, behind its Bearer token,
 * through the same pipeline as every API route; and the series say what the
 * token route did without ever naming who asked.
 */

const METRICS_TOKEN = 'metrics-scrape-token-0123456789abcdef0123456789';
const URL_METRICS = 'http://localhost:3000/api/metrics';
const h = routeHarness({ METRICS_TOKEN });

function metricsRequest(authorization: string | null = `Bearer ${METRICS_TOKEN}`, method = 'GET', ip = PEER_IP): Request {
  const headers = new Headers({ ...THROUGH_DOOR, 'x-forwarded-for': ip });
  if (authorization !== null) headers.set('authorization', authorization);
  return new Request(URL_METRICS, { method, headers });
}

async function scrape(): Promise<string> {
  const res = await call(GET, metricsRequest());
  expect(res.status).toBe(200);
  return res.text;
}

describe('GET /api/metrics: who may read it', () => {
  it('without METRICS_TOKEN every method answers the JSON 404 of an unknown path, token or not', async () => {
    h.configure({ METRICS_TOKEN: undefined });
    for (const [handler, req] of [[GET, metricsRequest()], [GET, metricsRequest(null)], [POST, metricsRequest(null, 'POST')], [DELETE, metricsRequest(null, 'DELETE')]] as const) {
      const res = await call(handler, req);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ error: 'not_found' });
      expectHeaders(res.headers, SECURITY_HEADERS);
    }
  });

  it('answers Prometheus text to the right token, with the API headers', async () => {
    const res = await call(GET, metricsRequest());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expectHeaders(res.headers, SECURITY_HEADERS);
    expect(res.text).toContain('# TYPE rtg_security_events_total counter');
    expect(res.text).toContain('rtg_limiter_store_degraded 0');
    const head = await HEAD(metricsRequest(`Bearer ${METRICS_TOKEN}`, 'HEAD'));
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await call(POST, metricsRequest(undefined, 'POST'));
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  const refused: ReadonlyArray<readonly [string, string | null, string]> = [
    ['no Authorization header', null, 'auth_missing'],
    ['a wrong token of the same length', `Bearer ${METRICS_TOKEN.replace(/.$/, 'x')}`, 'auth_invalid'],
    ['a prefix of the token', `Bearer ${METRICS_TOKEN.slice(0, 20)}`, 'auth_invalid'],
    ['the token plus a suffix', `Bearer ${METRICS_TOKEN}0`, 'auth_invalid'],
    ['the token under another scheme', `Basic ${METRICS_TOKEN}`, 'auth_invalid'],
    ['the token without a scheme', METRICS_TOKEN, 'auth_invalid'],
    ['a signed user JWT', 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln', 'auth_invalid'],
  ];
  for (const [label, authorization, code] of refused) {
    it(`401 ${code} for ${label}, with no series in the body`, async () => {
      const res = await call(GET, metricsRequest(authorization));
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: code });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
      expect(res.text).not.toContain('rtg_');
      expectHeaders(res.headers, SECURITY_HEADERS);
    });
  }

  it('bounds guessing per IP: past RATE_LIMIT_AUTH_FAILURES even the right token waits (429)', async () => {
    h.configure({ RATE_LIMIT_AUTH_FAILURES: '3/60' });
    for (let i = 0; i < 3; i++) expect((await call(GET, metricsRequest('Bearer wrong-token'))).status).toBe(401);
    expect((await call(GET, metricsRequest())).status).toBe(429);
    // Another IP (another scraper) is unaffected, and a right token gives its unit back.
    for (let i = 0; i < 5; i++) expect((await call(GET, metricsRequest(undefined, 'GET', '198.51.100.9'))).status).toBe(200);
  });

  it('never writes the token to a log line or an answer', async () => {
    await call(GET, metricsRequest('Bearer wrong-token'));
    const ok = await call(GET, metricsRequest());
    const all = [...h.rt.lines, ...h.rt.startup.map((e) => JSON.stringify(e)), ok.text];
    for (const text of all) expect(text).not.toContain(METRICS_TOKEN);
  });
});

describe('GET /api/metrics: the series', () => {
  it('counts a minted key: events, limiter decisions per policy, the upstream latency', async () => {
    expect((await call(TOKEN, tokenRequest())).status).toBe(200);
    const text = await scrape();
    expect(value(text, 'rtg_security_events_total', { event: 'token_issued', level: 'info' })).toBe(1);
    expect(value(text, 'rtg_security_events_total', { event: 'auth_success', level: 'info' })).toBe(1);
    for (const policy of ['api', 'auth', 'token', 'token_daily', 'global']) {
      expect(value(text, 'rtg_limiter_decisions_total', { policy, outcome: 'allowed' }), policy).toBeGreaterThanOrEqual(1);
    }
    expect(value(text, 'rtg_upstream_duration_seconds_count', { endpoint: 'client_secrets', outcome: '2xx' })).toBe(1);
  });

  it('counts refusals by catalog code and limits by outcome', async () => {
    h.configure({ RATE_LIMIT_API: '1/60' });
    expect((await call(TOKEN, tokenRequest({ origin: 'https://evil.example' }))).status).toBe(403);
    expect((await call(TOKEN, tokenRequest())).status).toBe(200);
    expect((await call(TOKEN, tokenRequest())).status).toBe(429);
    const text = await scrape();
    expect(value(text, 'rtg_refusals_total', { code: 'origin_not_allowed' })).toBe(1);
    expect(value(text, 'rtg_refusals_total', { code: 'rate_limited' })).toBe(1);
    expect(value(text, 'rtg_limiter_decisions_total', { policy: 'api', outcome: 'limited' })).toBe(1);
  });

  it('counts a refused server key as a critical upstream event, by status class', async () => {
    h.upstream.setMode('unauthorized');
    expect((await call(TOKEN, tokenRequest())).status).toBe(502);
    const text = await scrape();
    expect(value(text, 'rtg_refusals_total', { code: 'upstream_auth' })).toBe(1);
    expect(value(text, 'rtg_security_events_total', { event: 'upstream_error', level: 'critical' })).toBe(1);
    expect(value(text, 'rtg_upstream_duration_seconds_count', { endpoint: 'client_secrets', outcome: '4xx' })).toBe(1);
  });

  it('times an upstream deadline as outcome="timeout"', async () => {
    h.configure({ UPSTREAM_TIMEOUT_MS: '200' });
    h.upstream.setMode('hang');
    expect((await call(TOKEN, tokenRequest())).status).toBe(504);
    expect(value(await scrape(), 'rtg_upstream_duration_seconds_count', { endpoint: 'client_secrets', outcome: 'timeout' })).toBe(1);
  });

  it('reports a degraded shared store (1) and its critical event', async () => {
    h.configure({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_TIMEOUT_MS: '50' });
    expect((await call(TOKEN, tokenRequest())).status).toBe(200);
    const text = await scrape();
    expect(value(text, 'rtg_limiter_store_degraded')).toBe(1);
    expect(value(text, 'rtg_security_events_total', { event: 'rate_limit_store_degraded', level: 'critical' })).toBe(1);
  });

  it('a flood of 500 distinct users, IPs and origins adds no series and names none of them', async () => {
    const send = async (i: number): Promise<Answer> => {
      const ip = `198.18.${i >> 8}.${i & 255}`;
      if (i % 2 === 0) return read(await TOKEN(await tokenRequest({ token: await signJwt({}, { subject: `flood-user-${i}` }), forwardedFor: ip, origin: ALLOWED_ORIGIN })));
      return read(await TOKEN(await tokenRequest({ forwardedFor: ip, origin: `https://flood-${i}.example` })));
    };
    // Warm-up: every kind of answer the flood gives, once, so its series exist.
    for (let i = 0; i < 4; i++) await send(1000 + i);
    const before = samples(await scrape()).length;
    const answers: Answer[] = [];
    for (let i = 0; i < 500; i++) answers.push(await send(i));
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200, 403]));
    const after = await scrape();
    expect(samples(after).length).toBe(before);
    expect(after).not.toMatch(/flood-|198\.18\.|user-1|127\.0\.0\.1/);
    expect(value(after, 'rtg_refusals_total', { code: 'origin_not_allowed' })).toBe(252);
  }, 60_000);

  it('keeps one registry per runtime: a new runtime starts at zero, and the global registry stays empty', async () => {
    expect((await call(TOKEN, tokenRequest({ origin: 'https://evil.example' }))).status).toBe(403);
    const first = getRuntime();
    expect(value(await scrape(), 'rtg_refusals_total', { code: 'origin_not_allowed' })).toBe(1);
    h.configure();
    expect(getRuntime()).not.toBe(first);
    expect(value(await scrape(), 'rtg_refusals_total', { code: 'origin_not_allowed' })).toBe(0);
    expect(await globalRegistry.metrics()).not.toContain('rtg_');
  });
});
