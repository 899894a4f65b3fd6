import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppWithUpstream, type AppWithUpstream } from '../support/app-server';
import { expectHeaders, RATE_LIMIT_PRESENT } from '../support/headers';
import { send } from '../support/http-client';
import { SERVER_NAME, startNginx, type Nginx, type NginxResponse, type RequestOptions } from '../support/nginx';
import { h2Request } from '../support/http2';
import { exchange } from '../support/raw-http';
import { signJwt } from '../support/tokens';
import { expectApiHeaders, expectApiRefusal, flushLogs, logsFor, newTrace, TOKEN_PATH } from './http';

/**
 * The production setup the README shows: deploy/nginx.conf, run by a real nginx,
 * in front of the production build with TRUSTED_PROXY_HOPS=1. Clients are told
 * apart by their loopback source address (127.0.0.2, …), which is nginx's
 * $remote_addr. The API limit is 5 per minute, so a client's 6th request is 429.
 * tests/e2e/nginx-forwarding.test.ts checks what nginx forwards, against a stand-in.
 */

const API_LIMIT = 5;
const SERVER_KEY = 'sk-nginx-e2e-key-0123456789';
const ORIGIN = 'https://app.example.com';
let server: AppWithUpstream;
let nginx: Nginx;

beforeAll(async () => {
  server = await startAppWithUpstream({ OPENAI_API_KEY: SERVER_KEY, TRUSTED_PROXY_HOPS: '1', RATE_LIMIT_API: `${API_LIMIT}/60`, ALLOWED_ORIGINS: ORIGIN });
  // Short client timeouts, so the slow-client case takes a second, not the file's 10 s.
  nginx = await startNginx({ upstreamPort: server.app.port, timeouts: { header: 2, body: 1 } });
});
afterAll(async () => {
  await nginx?.stop();
  await server?.close();
});

const credential = async () => `Bearer ${await signJwt({}, { subject: `user-${randomBytes(4).toString('hex')}` })}`;

/**
 * A token request through nginx from `client` (with a fresh user's credential
 * unless `headers.authorization` is '': then none); returns the answer and its trace id.
 */
async function token(client: string, headers: Record<string, string | string[]> = {}, body = '{}'): Promise<NginxResponse & { traceId: string }> {
  const { traceId, traceparent } = newTrace();
  const sent: Record<string, string | string[]> = { 'content-type': 'application/json', authorization: await credential(), traceparent, ...headers };
  if (sent.authorization === '') delete sent.authorization;
  const res = await nginx.request(TOKEN_PATH, { method: 'POST', localAddress: client, headers: sent, body });
  return { ...res, traceId };
}

/** The `ip` the app logged for these requests. */
async function ipsLogged(traceIds: string[]): Promise<Set<unknown>> {
  const wanted = new Set(traceIds);
  return new Set((await flushLogs(server.app)).filter((l) => wanted.has(l.traceId!)).map((l) => l.ip));
}

describe('the client IP is the one nginx saw', () => {
  // Another client's address, nginx's own, lists, garbage, two header lines: none moves the key.
  const FORGED: Array<string | string[]> = ['1.2.3.4', '127.0.0.3', '127.0.0.3, 127.0.0.1', 'unknown, 10.0.0.1', '2001:db8::1', ['198.51.100.1', '198.51.100.2'], '1.2.3.4,', ' , '];

  it('a client forging a new X-Forwarded-For on every request still hits its one limit', async () => {
    const results = [];
    for (const forged of FORGED) results.push(await token('127.0.0.2', { 'x-forwarded-for': forged, 'x-real-ip': '1.2.3.4', forwarded: 'for=1.2.3.4' }));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    for (const r of results.slice(API_LIMIT)) {
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(r.headers['x-ratelimit-remaining']).toBe('0');
    }
    expect(await ipsLogged(results.map((r) => r.traceId))).toEqual(new Set(['127.0.0.2']));
    const logged = (await nginx.accessLog()).filter((l) => l.path === TOKEN_PATH).map((l) => l.client);
    expect(new Set(logged)).toEqual(new Set(['127.0.0.2']));
  });

  it('the client it named is untouched: its own limit, its own key', async () => {
    const other = await token('127.0.0.3');
    expect(other.status).toBe(200);
    expect(other.headers['x-ratelimit-remaining']).toBe(String(API_LIMIT - 1));
    expect(await ipsLogged([other.traceId])).toEqual(new Set(['127.0.0.3']));
    expect((await token('127.0.0.2', { 'x-forwarded-for': '127.0.0.3' })).status).toBe(429);
  });
});

describe('answers arrive through nginx unchanged', () => {
  /** Set by nginx or the connection, not by the app. */
  const HOP = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'server']);
  /** Differ between two requests by design (the page CSP carries a nonce). */
  const PER_REQUEST = new Set(['x-trace-id', 'x-ratelimit-reset', 'ratelimit', 'content-security-policy', 'content-length']);
  const CASES: Array<[string, string, () => Promise<RequestOptions>]> = [
    ['a token (200)', TOKEN_PATH, async () => ({ method: 'POST', headers: { 'content-type': 'application/json', authorization: await credential() }, body: '{}' })],
    ['no credential (401)', TOKEN_PATH, async () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })],
    ['an unlisted origin (403)', TOKEN_PATH, async () => ({ method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://evil.example', authorization: await credential() }, body: '{}' })],
    ['a preflight from the allowed origin (204)', TOKEN_PATH, async () => ({ method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } })],
    ['an unknown API path (404)', '/api/nowhere', async () => ({})],
    ['a wrong method (405)', '/api/health', async () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })],
    ['the page (200)', '/', async () => ({ headers: { accept: 'text/html' } })],
  ];

  it.each(CASES.map(([label, path, options], i) => [label, path, options, i] as const))('%s: the same status and headers as straight from the app', async (_label, path, options, i) => {
    const proxied = await nginx.request(path, { ...(await options()), localAddress: `127.0.0.${20 + i}` });
    const direct = await send(`${server.app.url}${path}`, { ...(await options()), localAddress: `127.0.0.${40 + i}` });
    expect(proxied.status).toBe(direct.status);
    expect(proxied.headers.server).toBe('nginx');
    const names = (res: NginxResponse) => Object.keys(res.headers).filter((n) => !HOP.has(n)).sort();
    expect(names(proxied)).toEqual(names(direct));
    for (const name of names(direct).filter((n) => !PER_REQUEST.has(n))) expect(proxied.headers[name], name).toEqual(direct.headers[name]);
  });

  it('security headers, trace id and rate-limit headers are the app\'s; Server names no version', async () => {
    const proxied = await token('127.0.0.4');
    expect(proxied.status).toBe(200);
    const headers = new Headers(proxied.headers as Record<string, string>);
    expectApiHeaders(new Response(null, { headers }));
    expect(headers.get('x-trace-id')).toBe(proxied.traceId);
    expectHeaders(headers, RATE_LIMIT_PRESENT);
    expect(proxied.headers.server).toBe('nginx');
  });

  it('over HTTP/2 too', async () => {
    const session = nginx.http2('127.0.0.5');
    try {
      const { traceId, traceparent } = newTrace();
      const res = await h2Request(session, { ':method': 'POST', ':path': TOKEN_PATH, 'content-type': 'application/json', authorization: await credential(), traceparent }, '{}');
      expect(res.status).toBe(200);
      expect(res.headers['x-trace-id']).toBe(traceId);
      expectApiHeaders(new Response(null, { headers: res.headers }));
      expect(JSON.parse(res.body).value).toMatch(/^ek_/);
    } finally {
      session.close();
    }
  });
});

describe('Next-internal headers sent through nginx', () => {
  const INTERNAL = {
    'x-middleware-subrequest': 'middleware:middleware:middleware:middleware:middleware',
    'x-middleware-prefetch': '1',
    'x-nextjs-data': '1',
    'x-now-route-matches': '1=x',
    rsc: '1',
    'next-router-state-tree': '%5B%22%22%5D',
    'next-action': 'x',
  };

  it('do not skip authentication (CVE-2025-29927): 401 in the API shape, logged', async () => {
    const res = await token('127.0.0.6', { ...INTERNAL, authorization: '' });
    expectApiRefusal(res, 401, 'auth_missing');
    expect(res.headers['x-trace-id']).toBe(res.traceId);
    expect((await logsFor(server.app, res.traceId)).map((l) => l.event)).toContain('auth_failure');
  });

  it('nor change what a valid request gets', async () => {
    const res = await token('127.0.0.6', INTERNAL);
    expect(res.status).toBe(200);
    expect(res.json().value).toMatch(/^ek_/);
  });
});

describe('bodies and framing', () => {
  it('a body over the app\'s 16k cap gets the app\'s 413; one over nginx\'s 64k gets nginx\'s, in the same shape', async () => {
    const appCap = await token('127.0.0.7', {}, JSON.stringify({ instructions: 'a'.repeat(20_000) }));
    expectApiRefusal(appCap, 413, 'body_too_large');
    expect(appCap.headers['x-trace-id']).toBe(appCap.traceId);

    const nginxCap = await token('127.0.0.7', {}, JSON.stringify({ instructions: 'a'.repeat(70_000) }));
    expectApiRefusal(nginxCap, 413, 'body_too_large');
    expect(nginxCap.json().message).toBe(appCap.json().message);
    // nginx answered alone: the app has no line for this request.
    expect(await logsFor(server.app, nginxCap.traceId)).toEqual([]);
  });

  it('a body that stops arriving is cut by nginx (reset, no answer); the app never sees the request', async () => {
    const { traceId, traceparent } = newTrace();
    const started = Date.now();
    const result = await exchange(nginx.tlsPort, [
      `POST ${TOKEN_PATH} HTTP/1.1\r\nHost: ${SERVER_NAME}\r\nContent-Type: application/json\r\nAuthorization: ${await credential()}\r\ntraceparent: ${traceparent}\r\nContent-Length: 100\r\n\r\n{"voice":`,
    ], { tls: { ca: nginx.ca, servername: SERVER_NAME }, timeoutMs: 6_000 });
    expect(result.closedByServer).toBe(true);
    expect(result.responses).toEqual([]);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await logsFor(server.app, traceId)).toEqual([]);
  });

  it('Content-Length with Transfer-Encoding is refused, and the request hidden in the body is never answered', async () => {
    const smuggled = `GET /api/health HTTP/1.1\r\nHost: ${SERVER_NAME}\r\n\r\n`;
    const result = await exchange(nginx.tlsPort, [
      `POST ${TOKEN_PATH} HTTP/1.1\r\nHost: ${SERVER_NAME}\r\nContent-Type: application/json\r\nContent-Length: ${5 + smuggled.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ], { tls: { ca: nginx.ca, servername: SERVER_NAME }, expect: 2 });
    expect(result.responses).toHaveLength(1);
    expectApiRefusal(result.responses[0], 400, 'bad_request');
    expect(result.closedByServer).toBe(true);
  });
});

describe('nginx\'s own per-client limits', () => {
  it('a burst of 100 requests on one HTTP/2 connection is cut by limit_req/limit_conn, in the API shape', async () => {
    const session = nginx.http2('127.0.0.8');
    try {
      const answers = await Promise.all(Array.from({ length: 100 }, () => h2Request(session, { ':path': '/api/nowhere' })));
      // nginx's refusals carry no X-RateLimit-* (the app's limiter never saw them).
      const byNginx = answers.filter((a) => a.headers['x-ratelimit-limit'] === undefined && a.status !== 404);
      expect(byNginx.length).toBeGreaterThan(0);
      for (const a of byNginx) expectApiRefusal(a, a.status, a.status === 429 ? 'rate_limited' : 'too_many_connections');
      for (const a of byNginx) expect(a.headers['retry-after']).toBe('1');
      // burst=40 plus what 20 r/s refills while the burst arrives.
      expect(answers.length - byNginx.length).toBeLessThan(60);
      // Each stream is a request of this one client, as nginx logged it.
      expect((await nginx.accessLog()).filter((l) => l.client === '127.0.0.8' && l.path === '/api/nowhere')).toHaveLength(100);
    } finally {
      session.close();
    }
  });
});
