import { describe, expect, it } from 'vitest';
import { GET as notFoundGet } from '@/app/api/[...path]/route';
import { DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT } from '@/app/api/realtime/token/route';
import { createRuntime, setRuntime, type Runtime } from '@/lib/runtime';
import { signJwt } from '../support/tokens';
import {
  call,
  expectHeaders,
  HSTS,
  RATE_LIMIT_ABSENT,
  RATE_LIMIT_PRESENT,
  read,
  SECURITY_HEADERS,
  sequential,
  tokenRequest,
  routeHarness,
  type Answer,
  type Harness,
  type HeaderTable,
} from './helpers';

/**
 * Headers on every kind of answer (helmet-style tables: `null` = must be
 * absent). Rate-limit headers wherever a limiter ran; Retry-After only on
 * 429 and the upstream-busy 503.
 */

const h = routeHarness();

type Kind = [label: string, status: number, send: (h: Harness) => Promise<Answer>, rateLimit: 'present' | 'absent', retryAfter: RegExp | null];

const KINDS: Kind[] = [
  ['200 token', 200, async () => call(POST, tokenRequest()), 'present', null],
  ['400 auth_malformed', 400, async () => call(POST, tokenRequest({ token: null, headers: { authorization: 'Bearer a b' } })), 'present', null],
  ['400 json_invalid', 400, async () => call(POST, tokenRequest({ body: '{' })), 'present', null],
  ['400 body_invalid', 400, async () => call(POST, tokenRequest({ body: { voice: 'x' } })), 'present', null],
  ['401 auth_missing', 401, async () => call(POST, tokenRequest({ token: null })), 'present', null],
  ['401 auth_invalid', 401, async () => call(POST, tokenRequest({ token: 'a.b.c' })), 'present', null],
  ['401 auth_scheme_unsupported', 401, async () => call(POST, tokenRequest({ token: null, headers: { authorization: 'Basic x' } })), 'present', null],
  ['403 origin', 403, async () => call(POST, tokenRequest({ origin: 'https://evil.example' })), 'absent', null],
  ['405 GET', 405, async () => call(GET, tokenRequest({ method: 'GET', body: null })), 'absent', null],
  ['405 PUT', 405, async () => call(PUT, tokenRequest({ method: 'PUT' })), 'absent', null],
  ['405 PATCH', 405, async () => call(PATCH, tokenRequest({ method: 'PATCH' })), 'absent', null],
  ['405 DELETE', 405, async () => call(DELETE, tokenRequest({ method: 'DELETE' })), 'absent', null],
  ['405 HEAD', 405, async () => call(HEAD, tokenRequest({ method: 'HEAD', body: null })), 'absent', null],
  ['204 OPTIONS', 204, async () => call(OPTIONS, tokenRequest({ method: 'OPTIONS', body: null })), 'absent', null],
  ['404 unknown API path', 404, async () => read(await notFoundGet(new Request('http://localhost:3000/api/nope'))), 'absent', null],
  ['413 body', 413, async () => call(POST, tokenRequest({ body: 'x'.repeat(17_000) })), 'absent', null],
  ['415 content type', 415, async () => call(POST, tokenRequest({ contentType: 'text/plain' })), 'absent', null],
  ['429 token limit', 429, async () => {
    const token = await signJwt({}, { subject: 'limited' });
    return (await sequential(11, () => call(POST, tokenRequest({ token })))).at(-1)!;
  }, 'present', /^60$/],
  ['429 API limit', 429, async (h) => {
    h.configure({ RATE_LIMIT_API: '1/60' });
    await call(POST, tokenRequest());
    return call(POST, tokenRequest());
  }, 'present', /^60$/],
  ['429 auth-failure limit', 429, async () => {
    await sequential(20, () => call(POST, tokenRequest({ token: null })));
    return call(POST, tokenRequest());
  }, 'present', /^(299|300)$/],
  ['500 internal error', 500, async (h) => {
    // The store answers the IP limits, then crashes on the per-user check.
    const real = h.rt.runtime.store;
    let hits = 0;
    const store: Runtime['store'] = {
      hit: (key, policy) => (++hits >= 2 ? Promise.reject(new Error('store crashed')) : real.hit(key, policy)),
      peek: (key, policy) => real.peek(key, policy),
      reserve: (key, policy) => real.reserve(key, policy),
      draw: (key, policy, want, min) => real.draw(key, policy, want, min),
      close: async () => {},
    };
    setRuntime(createRuntime({ ...h.rt.runtime, store }));
    return call(POST, tokenRequest());
  }, 'present', null],
  ['502 upstream_error', 502, async (h) => {
    h.upstream.setMode('error500');
    return call(POST, tokenRequest());
  }, 'present', null],
  ['502 upstream_auth', 502, async (h) => {
    h.upstream.setMode('unauthorized');
    return call(POST, tokenRequest());
  }, 'present', null],
  ['502 upstream_rejected', 502, async () => call(POST, tokenRequest({ body: { voice: 'fable' } })), 'present', null],
  ['503 not configured', 503, async (h) => {
    h.configure({ OPENAI_API_KEY: undefined });
    return call(POST, tokenRequest());
  }, 'present', null],
  ['503 upstream quota', 503, async (h) => {
    h.upstream.setMode('quota');
    return call(POST, tokenRequest());
  }, 'present', /^30$/],
  ['503 upstream rate limit', 503, async (h) => {
    h.upstream.setMode('ratelimit');
    return call(POST, tokenRequest());
  }, 'present', /^7$/],
  ['504 upstream timeout', 504, async (h) => {
    h.configure({ UPSTREAM_TIMEOUT_MS: '100' });
    h.upstream.setMode('hang');
    return call(POST, tokenRequest());
  }, 'present', null],
];

describe('every kind of answer carries the security headers (production)', () => {
  it.each(KINDS)('%s', async (_label, status, send, rateLimit, retryAfter) => {
    const res = await send(h);
    expect(res.status).toBe(status);
    const table: HeaderTable = {
      ...SECURITY_HEADERS,
      'Strict-Transport-Security': HSTS,
      ...(rateLimit === 'present' ? RATE_LIMIT_PRESENT : RATE_LIMIT_ABSENT),
      'Retry-After': retryAfter,
      Server: null,
      'Access-Control-Allow-Origin': null,
    };
    expectHeaders(res.headers, table);
    if (res.body) {
      expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
      expect(res.body.traceId).toBe(res.headers.get('X-Trace-Id'));
    }
    if (status === 401) expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="realtime-token"/);
    else expect(res.headers.get('WWW-Authenticate')).toBeNull();
  });
});

describe('development', () => {
  it.each(KINDS.filter(([label]) => /^(200|401 auth_missing|403|405 GET|204|413|415)/.test(label)))(
    '%s has no HSTS and the same other headers',
    async (_label, status, send) => {
      h.configure({ NODE_ENV: 'development' });
      const res = await send(h);
      expect(res.status).toBe(status);
      expectHeaders(res.headers, { ...SECURITY_HEADERS, 'Strict-Transport-Security': null });
    },
  );
});

describe('rate-limit header values', () => {
  it('on 200: the binding limiter and every IETF policy', async () => {
    const res = await call(POST, tokenRequest());
    const reset = Math.ceil((h.rt.runtime.now() + 60_000) / 1000);
    expectHeaders(res.headers, {
      'X-RateLimit-Limit': '10',
      'X-RateLimit-Remaining': '9',
      'X-RateLimit-Reset': String(reset),
      'RateLimit-Policy': '"api";q=100;w=60, "token";q=10;w=60, "token_daily";q=200;w=86400',
      RateLimit: '"api";r=99;t=60, "token";r=9;t=60, "token_daily";r=199;t=86400',
      'Retry-After': null,
    });
  });

  it('on 401: only the API limiter ran', async () => {
    const res = await call(POST, tokenRequest({ token: null }));
    expectHeaders(res.headers, {
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '99',
      'RateLimit-Policy': '"api";q=100;w=60',
      RateLimit: '"api";r=99;t=60',
    });
  });

  it('on 429 for the auth-failure limit: the refusing policy is named and binding', async () => {
    await sequential(20, () => call(POST, tokenRequest({ token: 'a.b.c' })));
    h.rt.advance(100_000);
    const res = await call(POST, tokenRequest());
    expectHeaders(res.headers, {
      'X-RateLimit-Limit': '20',
      'X-RateLimit-Remaining': '0',
      'Retry-After': '200',
      'RateLimit-Policy': '"api";q=100;w=60, "auth";q=20;w=300',
      RateLimit: '"api";r=99;t=60, "auth";r=0;t=200',
    });
  });
});

describe('X-Trace-Id', () => {
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
  const cases: Array<[label: string, headers: Record<string, string>, expected: string | 'fresh']> = [
    ['valid traceparent is adopted', { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` }, TRACE],
    ['traceparent with surrounding spaces', { traceparent: ` 00-${TRACE}-00f067aa0ba902b7-01 ` }, TRACE],
    ['traceparent version ff is refused', { traceparent: `ff-${TRACE}-00f067aa0ba902b7-01` }, 'fresh'],
    ['all-zero trace id is refused', { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }, 'fresh'],
    ['upper-case trace id is refused', { traceparent: `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01` }, 'fresh'],
    ['garbage traceparent', { traceparent: '<script>alert(1)</script>' }, 'fresh'],
    ['forged non-hex x-trace-id is not echoed', { 'x-trace-id': 'attacker-chosen-id' }, 'fresh'],
    ['forged x-trace-id with markup is not echoed', { 'x-trace-id': '"><img src=x onerror=alert(1)>' }, 'fresh'],
    ['forged over-long hex x-trace-id is not echoed', { 'x-trace-id': `${TRACE}00` }, 'fresh'],
  ];

  it.each(cases)('%s', async (_label, headers, expected) => {
    for (const send of [() => call(POST, tokenRequest({ headers })), () => call(POST, tokenRequest({ headers, token: null }))]) {
      const res = await send();
      const id = res.headers.get('X-Trace-Id');
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      if (expected !== 'fresh') expect(id).toBe(expected);
      else {
        expect(id).not.toBe(TRACE);
        expect(id).not.toBe(TRACE.toLowerCase());
      }
      expect(res.body?.traceId).toBe(id);
      for (const entry of h.entries().slice(-1)) expect(entry.traceId).toBe(id);
    }
  });

  it('fresh ids differ per request', async () => {
    const answers = await sequential(5, () => call(POST, tokenRequest({ token: null })));
    expect(new Set(answers.map((a) => a.headers.get('X-Trace-Id'))).size).toBe(5);
  });
});
