import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockOpenAI } from '../support/upstream';
import { startAppWithUpstream, type AppServer, type AppWithUpstream } from '../support/app-server';
import { signJwt } from '../support/tokens';
import { corsHeaderNames, expectApiHeaders, logsFor, newTrace, postToken, preflight } from './http';

/** The CORS middleware of the production server, seen from a browser's and an attacker's side. */

const ALLOWED = 'https://app.example.com';
let app: AppServer;
let upstream: MockOpenAI;

let server: AppWithUpstream;

beforeAll(async () => {
  server = await startAppWithUpstream({ OPENAI_API_KEY: 'sk-cors-server-key-0123456789', ALLOWED_ORIGINS: `${ALLOWED},http://localhost:3000` });
  ({ app, upstream } = server);
});
afterAll(async () => {
  await server?.close();
});

describe('preflight from an allowed origin', () => {
  it('is answered 204 by the middleware with an exact grant and no auth work', async () => {
    const { traceId, traceparent } = newTrace();
    const requestsBefore = upstream.requests.length;
    const res = await preflight(app, ALLOWED, {
      headers: 'authorization, content-type',
      extra: { traceparent, authorization: `Bearer ${await signJwt()}` },
    });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS');
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type, traceparent');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('vary')?.split(/,\s*/)).toContain('Origin');
    expect(expectApiHeaders(res)).toBe(traceId);
    // No limiter, no auth: nothing was logged for this request and nothing reached upstream.
    expect(res.headers.get('x-ratelimit-limit')).toBeNull();
    expect(await logsFor(app, traceId)).toEqual([]);
    expect(app.logs().filter((l) => l.event?.startsWith('auth_') && l.traceId === traceId)).toEqual([]);
    expect(upstream.requests.length).toBe(requestsBefore);
  });

  it('accepts the allowed headers in any case and order', async () => {
    const res = await preflight(app, 'http://localhost:3000', { headers: 'Traceparent,Content-Type , AUTHORIZATION' });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
  });
});

// Labelled hostile origins (hono's loop, arcjet's tuples): none may receive any grant.
const HOSTILE_ORIGINS: Array<[string, string]> = [
  ['suffix', 'https://app.example.com.evil.net'],
  ['prefix', 'https://evilapp.example.com'],
  ['subdomain', 'https://x.app.example.com'],
  ['parent domain', 'https://example.com'],
  ['null', 'null'],
  ['scheme', 'http://app.example.com'],
  ['port', 'https://app.example.com:8443'],
  ['default port spelled out', 'https://app.example.com:443'],
  ['case', 'https://APP.example.com'],
  ['scheme case', 'HTTPS://app.example.com'],
  ['trailing slash', 'https://app.example.com/'],
  ['trailing dot', 'https://app.example.com.'],
  ['path', 'https://app.example.com/path'],
  ['userinfo', 'https://app.example.com@evil.net'],
  ['wildcard', '*'],
  ['two origins', 'https://app.example.com https://evil.net'],
  ['comma list', 'https://app.example.com,https://evil.net'],
  ['empty', ''],
  ['unrelated', 'https://evil.net'],
];

describe('preflight from a disallowed origin', () => {
  it.each(HOSTILE_ORIGINS)('%s (%s) gets no Access-Control-Allow-* header at all', async (_label, origin) => {
    const { traceId, traceparent } = newTrace();
    const res = await preflight(app, origin, { headers: 'authorization, content-type', extra: { traceparent } });
    expect(res.status).toBe(403);
    expect(corsHeaderNames(res)).toEqual([]);
    expect(expectApiHeaders(res)).toBe(traceId);
    expect(res.headers.get('vary')?.split(/,\s*/)).toContain('Origin');
    expect(await res.json()).toMatchObject({ error: 'origin_not_allowed', traceId });
    const lines = await logsFor(app, traceId);
    expect(lines.map((l) => l.event)).toEqual(['origin_validation_failed']);
  });
});

describe('preflight asking for more than the API allows', () => {
  const cases: Array<[string, { method?: string; headers?: string }]> = [
    ['method PUT', { method: 'PUT' }],
    ['method DELETE', { method: 'DELETE' }],
    ['method GET', { method: 'GET' }],
    ['method PATCH', { method: 'PATCH' }],
    ['method in lower case', { method: 'post' }],
    ['header x-custom', { headers: 'content-type, x-custom' }],
    ['header cookie', { headers: 'cookie' }],
    ['header x-forwarded-for', { headers: 'authorization, x-forwarded-for' }],
    ['header x-middleware-subrequest', { headers: 'x-middleware-subrequest' }],
    ['header x-clerk-auth-status', { headers: 'x-clerk-auth-status' }],
  ];
  it.each(cases)('%s is refused with no grant', async (_label, ask) => {
    const { traceId, traceparent } = newTrace();
    const res = await preflight(app, ALLOWED, { ...ask, extra: { traceparent } });
    expect(res.status).toBe(403);
    expect(corsHeaderNames(res)).toEqual([]);
    expect(res.headers.get('x-trace-id')).toBe(traceId);
    const [line] = await logsFor(app, traceId);
    expect(line).toMatchObject({ event: 'origin_validation_failed', origin: ALLOWED });
  });
});

describe('actual requests', () => {
  it('from an allowed origin get the CORS grant on the answer', async () => {
    const res = await postToken(app, { origin: ALLOWED, authorization: `Bearer ${await signJwt()}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-expose-headers')).toContain('X-Trace-Id');
    expect(res.headers.get('access-control-expose-headers')).toContain('Retry-After');
    expect(res.headers.get('vary')?.split(/,\s*/)).toContain('Origin');
    expect((await res.json()).value).toMatch(/^ek_/);
  });

  it('from an allowed origin get the grant on errors too, so the page can read them', async () => {
    const res = await postToken(app, { origin: ALLOWED });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
  });

  it.each(HOSTILE_ORIGINS)(
    'from %s (%s) are refused 403 without a grant, before any credential is read',
    async (_label, origin) => {
      const { traceId, traceparent } = newTrace();
      const requestsBefore = upstream.requests.length;
      const res = await postToken(app, { origin, traceparent, authorization: `Bearer ${await signJwt()}` });
      expect(res.status).toBe(403);
      expect(corsHeaderNames(res)).toEqual([]);
      expect(await res.json()).toEqual({
        error: 'origin_not_allowed',
        message: 'This origin is not allowed to request tokens.',
        traceId,
      });
      // Logged as an origin failure (repeats also raise suspicious_activity); no auth step ran.
      const events = (await logsFor(app, traceId)).map((l) => l.event);
      expect(events[0]).toBe('origin_validation_failed');
      expect(events.filter((e) => e !== 'suspicious_activity')).toEqual(['origin_validation_failed']);
      expect(upstream.requests.length).toBe(requestsBefore);
    },
  );

  it('repeated refusals raise one suspicious_activity alert for the IP', async () => {
    const alerts = app.logs().filter((l) => l.event === 'suspicious_activity');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ level: 'critical', ip: '127.0.0.1' });
  });

  it('a cross-site browser request without Origin is refused too', async () => {
    const res = await postToken(app, { 'sec-fetch-site': 'cross-site', authorization: `Bearer ${await signJwt()}` });
    expect(res.status).toBe(403);
    expect(corsHeaderNames(res)).toEqual([]);
  });
});
