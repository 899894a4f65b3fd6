import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode } from '@/lib/errors';
import type { MockOpenAI } from '../support/upstream';
import { startAppWithUpstream, type AppServer, type AppWithUpstream } from '../support/app-server';
import { signJwt } from '../support/tokens';
import {
  corsHeaderNames,
  expectApiHeaders,
  expectHeaders,
  flushLogs,
  logsFor,
  newTrace,
  PAGE_HEADERS,
  postToken,
  preflight,
  TOKEN_PATH,
} from './http';

/**
 * Every kind of answer the production server gives, its headers, upstream
 * faults end to end, and exact limits under concurrency — one server.
 */

const ORIGIN = 'https://app.example.com';
const SERVER_KEY = 'sk-responses-server-key-0123456789';
const TIMEOUT_MS = 500;
let app: AppServer;
let upstream: MockOpenAI;

let server: AppWithUpstream;

beforeAll(async () => {
  server = await startAppWithUpstream({
    OPENAI_API_KEY: SERVER_KEY,
    ALLOWED_ORIGINS: ORIGIN,
    UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
    // This file sends well over 100 requests from one IP; the per-IP limit is proven in client-ip.test.ts.
    RATE_LIMIT_API: '1000/60',
    // One server for every case: a quota answer must not open the quota circuit for the cases after it.
    UPSTREAM_QUOTA_COOLOFF_SECONDS: '0',
  });
  ({ app, upstream } = server);
});
afterAll(async () => {
  await server?.close();
});
beforeEach(() => upstream.setMode('ok'));

/** A valid HS256 token for a fresh user, so one case's limits never leak into another. */
const freshUser = () => signJwt({}, { subject: `user-${randomBytes(6).toString('hex')}` });

type Send = (headers: Record<string, string>) => Promise<Response>;
interface Case {
  readonly label: string;
  readonly status: number;
  /** Error code of a JSON error body; undefined for 200 and bodiless answers. */
  readonly code?: ErrorCode;
  /** Whether a limiter ran, so the rate-limit headers must be present. */
  readonly limited: boolean;
  readonly mode?: string;
  readonly prepare?: () => Promise<Record<string, string>>;
  readonly send: Send;
}

const bearer = async () => ({ authorization: `Bearer ${await freshUser()}` });
const token = (body = '{}', type = 'application/json'): Send => (headers) =>
  fetch(`${app.url}${TOKEN_PATH}`, { method: 'POST', headers: { 'content-type': type, ...headers }, body });
const method = (name: string, path = TOKEN_PATH): Send => (headers) => fetch(`${app.url}${path}`, { method: name, headers });

const CASES: Case[] = [
  { label: '200 token issued', status: 200, limited: true, prepare: bearer, send: token() },
  { label: '400 body_invalid', status: 400, code: 'body_invalid', limited: true, prepare: bearer, send: token('{"voice":"nope"}') },
  { label: '400 json_invalid', status: 400, code: 'json_invalid', limited: true, prepare: bearer, send: token('{"voice":') },
  { label: '400 auth_malformed', status: 400, code: 'auth_malformed', limited: true, send: (h) => token()({ ...h, authorization: 'Bearer a b' }) },
  { label: '401 auth_scheme_unsupported', status: 401, code: 'auth_scheme_unsupported', limited: true, send: (h) => token()({ ...h, authorization: 'Basic dXNlcjpwYXNz' }) },
  { label: '401 auth_missing', status: 401, code: 'auth_missing', limited: true, send: token() },
  { label: '401 auth_invalid', status: 401, code: 'auth_invalid', limited: true, send: (h) => token()({ ...h, authorization: `Bearer ${'eyJhbGciOiJIUzI1NiJ9.e30.' + 'A'.repeat(43)}` }) },
  { label: '403 origin_not_allowed', status: 403, code: 'origin_not_allowed', limited: false, send: (h) => token()({ ...h, origin: 'https://evil.example' }) },
  { label: '404 unknown API path (GET)', status: 404, code: 'not_found', limited: false, send: method('GET', '/api/does-not-exist') },
  { label: '404 unknown API path (POST)', status: 404, code: 'not_found', limited: false, send: method('POST', '/api/realtime/token/extra') },
  { label: '405 GET', status: 405, code: 'method_not_allowed', limited: false, send: method('GET') },
  { label: '405 PUT', status: 405, code: 'method_not_allowed', limited: false, send: method('PUT') },
  { label: '405 DELETE', status: 405, code: 'method_not_allowed', limited: false, send: method('DELETE') },
  { label: '405 HEAD', status: 405, limited: false, send: method('HEAD') },
  { label: '413 body_too_large', status: 413, code: 'body_too_large', limited: false, prepare: bearer, send: token(JSON.stringify({ instructions: 'x'.repeat(17_000) })) },
  { label: '415 unsupported_media_type', status: 415, code: 'unsupported_media_type', limited: false, prepare: bearer, send: token('voice=alloy', 'application/x-www-form-urlencoded') },
  {
    label: '429 rate_limited',
    status: 429,
    code: 'rate_limited',
    limited: true,
    prepare: async () => {
      const headers = await bearer();
      for (let i = 0; i < 10; i++) expect((await postToken(app, headers)).status).toBe(200);
      return headers;
    },
    send: token(),
  },
  { label: '502 upstream_error', status: 502, code: 'upstream_error', limited: true, mode: 'error500', prepare: bearer, send: token() },
  { label: '503 upstream_rate_limited', status: 503, code: 'upstream_rate_limited', limited: true, mode: 'quota', prepare: bearer, send: token() },
  { label: '504 upstream_timeout', status: 504, code: 'upstream_timeout', limited: true, mode: 'hang', prepare: bearer, send: token() },
  { label: '204 plain OPTIONS', status: 204, limited: false, send: method('OPTIONS') },
  { label: '204 preflight', status: 204, limited: false, send: (h) => preflight(app, ORIGIN, { headers: 'content-type', extra: h }) },
  { label: '403 refused preflight', status: 403, code: 'origin_not_allowed', limited: false, send: (h) => preflight(app, 'https://evil.example', { extra: h }) },
];

// The first thing to know about a build (formerly tests/e2e/smoke.test.ts, on a server of its own).
it('issues a token through the production server', async () => {
  const res = await fetch(`${app.url}/api/realtime/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await signJwt()}`, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(res.status).toBe(200);
  const body = await res.json();
  expect(body.value).toMatch(/^ek_/);
});

describe('headers on every kind of API answer', () => {
  it.each(CASES.map((c) => [c.label, c] as const))('%s', async (_label, c) => {
    const extra = (await c.prepare?.()) ?? {};
    if (c.mode) upstream.setMode(c.mode);
    const { traceId, traceparent } = newTrace();
    const res = await c.send({ ...extra, traceparent });
    expect(res.status).toBe(c.status);
    expect(expectApiHeaders(res, c.label)).toBe(traceId);
    expect(res.headers.get('vary')?.split(/,\s*/)).toContain('Origin');
    expect(res.headers.has('x-ratelimit-limit'), 'rate-limit headers').toBe(c.limited);
    expect(res.headers.has('ratelimit-policy'), 'RateLimit-Policy').toBe(c.limited);
    if (c.status === 429 || c.code === 'upstream_rate_limited') expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    else expect(res.headers.get('retry-after')).toBeNull();
    if (c.status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="realtime-token"/);
    if (c.status === 405) expect(res.headers.get('allow')).toBe('POST, OPTIONS');
    if (c.label === '204 preflight') expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    else expect(corsHeaderNames(res)).toEqual([]);

    const text = await res.text();
    if (c.code) {
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = JSON.parse(text);
      expect(body.error).toBe(c.code);
      expect(body.message).toBe(ERRORS[c.code].message);
      expect(body.traceId).toBe(traceId);
    } else if (c.status === 200) {
      const body = JSON.parse(text);
      expect(Object.keys(body).sort()).toEqual(['expires_at', 'session', 'traceId', 'value']);
      expect(body.traceId).toBe(traceId);
    } else {
      expect(text).toBe('');
    }
  });

  it('the home page carries the page CSP, microphone=(self) and no X-Powered-By', async () => {
    const res = await fetch(`${app.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expectHeaders(res, PAGE_HEADERS, 'page');
    const csp = res.headers.get('content-security-policy') ?? '';
    const directives = new Map(csp.split(/;\s*/).map((d) => [d.split(' ')[0], d.split(' ').slice(1)] as const));
    expect(directives.get('connect-src')).toEqual(["'self'", 'https://api.openai.com']);
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    expect(directives.get('object-src')).toEqual(["'none'"]);
    expect(res.headers.get('permissions-policy')).toContain('microphone=(self)');
    expect(res.headers.get('permissions-policy')).toContain('camera=()');
    expect(res.headers.get('x-trace-id')).toMatch(/^[0-9a-f]{32}$/);
    await res.arrayBuffer();
  });

  it('a missing page is a 404 without X-Powered-By', async () => {
    const res = await fetch(`${app.url}/no-such-page`);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    await res.arrayBuffer();
  });
});

describe('trace ids', () => {
  it('a fresh random id when no traceparent comes; the header equals the body', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const res = await postToken(app);
      const id = expectApiHeaders(res);
      expect((await res.json()).traceId).toBe(id);
      ids.add(id);
    }
    expect(ids.size).toBe(3);
  });

  const INVALID: Array<[string, string]> = [
    ['version ff', `ff-${'a'.repeat(32)}-${'b'.repeat(16)}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`],
    ['all-zero parent id', `00-${'a'.repeat(32)}-${'0'.repeat(16)}-01`],
    ['upper-case hex', `00-${'A'.repeat(32)}-${'b'.repeat(16)}-01`],
    ['short trace id', `00-${'a'.repeat(31)}-${'b'.repeat(16)}-01`],
    ['injected text', `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01 <script>`],
  ];
  it.each(INVALID)('an invalid traceparent (%s) is not adopted', async (_label, traceparent) => {
    const res = await postToken(app, { traceparent });
    const id = expectApiHeaders(res);
    expect(id).not.toBe('a'.repeat(32));
    expect((await res.json()).traceId).toBe(id);
  });

  it('a client-sent X-Trace-Id is replaced', async () => {
    const forged = 'c'.repeat(32);
    const res = await postToken(app, { 'x-trace-id': forged });
    const id = expectApiHeaders(res);
    expect(id).not.toBe(forged);
    expect((await res.json()).traceId).toBe(id);
  });
});

const UPSTREAM_TEXT = [
  'secret-upstream-detail',
  'Incorrect API key',
  'sk-abc',
  'exceeded your current quota',
  'Rate limit reached',
  'ek_truncated',
  'server_error',
  'insufficient_quota',
  'invalid_api_key',
  'Supported values',
  '127.0.0.1:9',
];

describe('upstream faults end to end', () => {
  const FAULTS: Array<{ mode: string; status: number; code: ErrorCode; level: string; retryAfter?: string }> = [
    { mode: 'error500', status: 502, code: 'upstream_error', level: 'error' },
    { mode: 'hang', status: 504, code: 'upstream_timeout', level: 'error' },
    { mode: 'reset', status: 502, code: 'upstream_error', level: 'error' },
    { mode: 'badjson', status: 502, code: 'upstream_error', level: 'error' },
    { mode: 'huge', status: 502, code: 'upstream_error', level: 'error' },
    { mode: 'redirect', status: 502, code: 'upstream_error', level: 'error' },
    { mode: 'rejected', status: 502, code: 'upstream_rejected', level: 'warn' },
    { mode: 'unauthorized', status: 502, code: 'upstream_auth', level: 'critical' },
    { mode: 'quota', status: 503, code: 'upstream_rate_limited', level: 'error', retryAfter: '30' },
    { mode: 'ratelimit', status: 503, code: 'upstream_rate_limited', level: 'error', retryAfter: '7' },
  ];

  it.each(FAULTS.map((f) => [f.mode, f] as const))('%s', async (_mode, fault) => {
    upstream.setMode(fault.mode);
    const { traceId, traceparent } = newTrace();
    const before = upstream.requests.length;
    const started = performance.now();
    const res = await postToken(app, { authorization: `Bearer ${await freshUser()}`, traceparent, origin: ORIGIN });
    const text = await res.text();
    const elapsed = performance.now() - started;

    expect(res.status).toBe(fault.status);
    expect(JSON.parse(text)).toEqual({ error: fault.code, message: ERRORS[fault.code].message, traceId });
    expect(res.headers.get('retry-after')).toBe(fault.retryAfter ?? null);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    for (const fragment of UPSTREAM_TEXT) expect(text).not.toContain(fragment);
    for (const value of res.headers.values()) for (const fragment of UPSTREAM_TEXT) expect(value).not.toContain(fragment);
    if (fault.mode === 'hang') expect(elapsed).toBeLessThan(TIMEOUT_MS + 500);

    // One upstream call, no retries that multiply cost; it carried the server key.
    expect(upstream.requests.length).toBe(before + 1);
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${SERVER_KEY}`);

    const [line] = (await logsFor(app, traceId)).filter((l) => l.event === 'upstream_error');
    expect(line).toMatchObject({ level: fault.level, metadata: { code: fault.code } });
    expect(JSON.stringify(line)).not.toContain(SERVER_KEY);
  });
});

describe('exact limits over HTTP', () => {
  it('40 concurrent requests for one user: exactly 10 tokens, 30 refusals', async () => {
    const subject = `burst-${randomBytes(6).toString('hex')}`;
    const headers = { authorization: `Bearer ${await signJwt({}, { subject })}` };
    const before = upstream.requests.length;
    const answers = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const res = await postToken(app, headers);
        await res.arrayBuffer();
        return res;
      }),
    );
    const ok = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status === 429);
    expect(ok).toHaveLength(10);
    expect(refused).toHaveLength(30);
    for (const res of refused) {
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(res.headers.get('x-ratelimit-limit')).toBe('10');
    }
    // Remaining counts down 9..0 across the admitted requests, each value once.
    expect(ok.map((r) => Number(r.headers.get('x-ratelimit-remaining'))).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(upstream.requests.length).toBe(before + 10);

    const logs = await flushLogs(app);
    const mine = logs.filter((l) => l.userId === `jwt:${subject}`);
    expect(mine.filter((l) => l.event === 'token_issued')).toHaveLength(10);
    expect(mine.filter((l) => l.event === 'rate_limit_exceeded')).toHaveLength(30);
  });
});
