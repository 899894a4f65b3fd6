import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { startApp, type AppServer } from '../support/app-server';
import { b64url, createClerkTestKeys, signJwt, TEST_JWT_SECRET, type ClerkTestKeys } from '../support/tokens';
import { expectApiHeaders, flushLogs, logsFor, newTrace, nonJsonLines, postToken, preflight } from './http';

/**
 * Clerk on the production server, verified for real and offline: RS256
 * session tokens signed with a generated key, checked against CLERK_JWT_KEY.
 * The machine has no network, so a 200 also proves no JWKS fetch was needed.
 */

const AZP = 'http://localhost:3000';
let clerk: ClerkTestKeys;
let app: AppServer;
let upstream: MockOpenAI;

// Stands in for Clerk's Backend API (JWKS lives there): any request to it means
// verification was not networkless. CLERK_API_URL is read by Clerk itself.
const clerkApiRequests: string[] = [];
let clerkApi: Server;

beforeAll(async () => {
  clerk = await createClerkTestKeys();
  upstream = await startMockOpenAI();
  clerkApi = createServer((req, res) => {
    clerkApiRequests.push(`${req.method} ${req.url}`);
    res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => clerkApi.listen(0, '127.0.0.1', resolve));
  const { port } = clerkApi.address() as AddressInfo;
  app = await startApp({
    CLERK_API_URL: `http://127.0.0.1:${port}`,
    OPENAI_API_KEY: 'sk-clerk-server-key-0123456789',
    OPENAI_BASE_URL: upstream.baseUrl,
    CLERK_SECRET_KEY: clerk.secretKey,
    NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: clerk.publishableKey,
    CLERK_JWT_KEY: clerk.publicKeyPem,
    JWT_SECRET: TEST_JWT_SECRET,
    ALLOWED_ORIGINS: `${AZP},https://app.example.com`,
    // Many refused attempts from one IP on purpose; the auth-failure limit has its own tests.
    RATE_LIMIT_AUTH_FAILURES: '1000/300',
  });
});
afterAll(async () => {
  await app?.stop();
  await upstream?.close();
  clerkApi?.closeAllConnections();
  await new Promise((resolve) => clerkApi?.close(resolve));
});

async function send(headers: Record<string, string>): Promise<{ res: Response; body: Record<string, unknown>; traceId: string }> {
  const { traceId, traceparent } = newTrace();
  const res = await postToken(app, { traceparent, ...headers });
  return { res, body: (await res.json()) as Record<string, unknown>, traceId };
}

describe('valid Clerk sessions', () => {
  it('a session token as Bearer gets a key, logged as clerk:<sub>', async () => {
    const { res, body, traceId } = await send({ authorization: `Bearer ${await clerk.sign({ sub: 'user_bearer' })}`, origin: AZP });
    expect(res.status).toBe(200);
    expect(body.value).toMatch(/^ek_/);
    const lines = await logsFor(app, traceId);
    expect(lines.find((l) => l.event === 'auth_success')).toMatchObject({ userId: 'clerk:user_bearer', metadata: { method: 'clerk' } });
    expect(lines.find((l) => l.event === 'token_issued')).toMatchObject({ userId: 'clerk:user_bearer' });
  });

  it('the same token as the __session cookie gets a key', async () => {
    const { res, traceId } = await send({ cookie: `theme=dark; __session=${await clerk.sign({ sub: 'user_cookie' })}`, origin: AZP });
    expect(res.status).toBe(200);
    expect((await logsFor(app, traceId)).find((l) => l.event === 'auth_success')).toMatchObject({ userId: 'clerk:user_cookie' });
  });

  it('the HS256 JWT fallback still works with Clerk on, in its own id space', async () => {
    const { res, traceId } = await send({ authorization: `Bearer ${await signJwt({}, { subject: 'user_bearer' })}` });
    expect(res.status).toBe(200);
    expect((await logsFor(app, traceId)).find((l) => l.event === 'auth_success')).toMatchObject({
      userId: 'jwt:user_bearer',
      metadata: { method: 'jwt' },
    });
  });
});

/** A copy of `token` with its payload changed and the signature kept. */
function tamper(token: string, change: Record<string, unknown>): string {
  const [header, payload, signature] = token.split('.');
  const claims = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), ...change };
  return `${header}.${b64url(JSON.stringify(claims))}.${signature}`;
}

describe('refused Clerk tokens', () => {
  const cases: Array<[string, () => Promise<Record<string, string>>]> = [
    ['azp not in ALLOWED_ORIGINS', async () => ({ authorization: `Bearer ${await clerk.sign({ azp: 'https://evil.example' })}` })],
    ['azp not allowed, as cookie', async () => ({ cookie: `__session=${await clerk.sign({ azp: 'https://evil.example' })}` })],
    ['tampered subject', async () => ({ authorization: `Bearer ${tamper(await clerk.sign(), { sub: 'user_admin' })}` })],
    ['tampered azp', async () => ({ authorization: `Bearer ${tamper(await clerk.sign({ azp: 'https://evil.example' }), { azp: AZP })}` })],
    ['tampered cookie', async () => ({ cookie: `__session=${tamper(await clerk.sign(), { sub: 'user_admin' })}` })],
    ['signature stripped', async () => ({ authorization: `Bearer ${(await clerk.sign()).split('.').slice(0, 2).join('.')}.` })],
    ['signed by another key', async () => ({ authorization: `Bearer ${await (await createClerkTestKeys()).sign()}` })],
    ['expired', async () => ({ authorization: `Bearer ${await clerk.sign({ expiresIn: -120 })}` })],
    ['not yet valid', async () => ({ authorization: `Bearer ${await clerk.sign({ notBefore: Math.floor(Date.now() / 1000) + 600 })}` })],
    ['HS256 token as the __session cookie (fallback takes headers only)', async () => ({ cookie: `__session=${await signJwt()}` })],
  ];
  it.each(cases)('%s → 401', async (_label, headers) => {
    const before = upstream.requests.length;
    const { res, body, traceId } = await send(await headers());
    expect(res.status).toBe(401);
    expect(body.error).toBe('auth_invalid');
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(upstream.requests.length).toBe(before);
    const events = (await logsFor(app, traceId)).map((l) => l.event);
    expect(events).toContain('auth_failure');
    expect(events).not.toContain('auth_success');
  });
});

describe('forged Clerk middleware headers', () => {
  // What Clerk's middleware and Next's middleware plumbing pass between each
  // other; a client that sends them must gain nothing (CVE-2025-29927 style).
  const forgeries = async (): Promise<Array<[string, Record<string, string>]>> => {
    const valid = await clerk.sign({ sub: 'user_victim' });
    const requestData = b64url(JSON.stringify({ secretKey: 'sk_test_forged', publishableKey: clerk.publishableKey }));
    return [
      ['x-clerk-auth-status: signed-in', { 'x-clerk-auth-status': 'signed-in' }],
      ['x-clerk-auth-token with a valid token', { 'x-clerk-auth-status': 'signed-in', 'x-clerk-auth-token': valid }],
      ['x-clerk-auth-reason', { 'x-clerk-auth-status': 'signed-in', 'x-clerk-auth-reason': 'session-token-and-uat-present' }],
      ['x-clerk-request-data', { 'x-clerk-request-data': requestData, 'x-clerk-auth-status': 'signed-in' }],
      ['x-clerk-auth-message', { 'x-clerk-auth-message': 'ok', 'x-clerk-auth-status': 'signed-in' }],
      ['x-middleware-subrequest', { 'x-middleware-subrequest': 'middleware:middleware:middleware:middleware:middleware' }],
      ['x-middleware-subrequest (src path)', { 'x-middleware-subrequest': 'src/middleware:src/middleware:src/middleware:src/middleware:src/middleware' }],
      ['x-middleware-override-headers', { 'x-middleware-override-headers': 'authorization', 'x-middleware-request-authorization': `Bearer ${valid}` }],
      ['x-middleware-next', { 'x-middleware-next': '1', 'x-clerk-auth-status': 'signed-in', 'x-clerk-auth-token': valid }],
      ['x-user-id', { 'x-user-id': 'user_victim', 'x-clerk-user-id': 'user_victim' }],
      [
        'everything at once',
        {
          'x-clerk-auth-status': 'signed-in',
          'x-clerk-auth-token': valid,
          'x-clerk-auth-reason': 'session-token-and-uat-present',
          'x-clerk-request-data': requestData,
          'x-middleware-subrequest': 'middleware:middleware:middleware:middleware:middleware',
          'x-middleware-override-headers': 'authorization',
          'x-middleware-request-authorization': `Bearer ${valid}`,
        },
      ],
    ];
  };

  it('never authenticate a request without a valid credential of its own', async () => {
    // Each forgery alone, and next to a real but refused token (azp not allowed).
    const extras: Array<Record<string, string>> = [{}, { authorization: `Bearer ${await clerk.sign({ azp: 'https://evil.example' })}` }];
    for (const [label, headers] of await forgeries()) {
      for (const extra of extras) {
        const before = upstream.requests.length;
        const { res, body, traceId } = await send({ ...headers, ...extra });
        expect(res.status, label).toBe(401);
        expect(body.error, label).toBe('authorization' in extra ? 'auth_invalid' : 'auth_missing');
        expect(upstream.requests.length, label).toBe(before);
        const events = (await logsFor(app, traceId)).map((l) => l.event);
        expect(events, label).not.toContain('auth_success');
        expect(events, label).not.toContain('token_issued');
      }
    }
  });
});

describe('the middleware with Clerk on', () => {
  it('gives every request its own trace id and the API headers', async () => {
    const token = await clerk.sign({ sub: 'user_trace' });
    const traces = [newTrace(), newTrace()];
    for (const { traceId, traceparent } of traces) {
      const res = await postToken(app, { authorization: `Bearer ${token}`, traceparent });
      expect(res.status).toBe(200);
      expect(expectApiHeaders(res)).toBe(traceId);
      expect((await res.json()).traceId).toBe(traceId);
    }
    const fresh = await Promise.all([postToken(app), postToken(app)]);
    const ids = fresh.map((res) => res.headers.get('x-trace-id'));
    expect(ids[0]).not.toBe(ids[1]);
    for (const res of fresh) expect((await res.json()).traceId).toBe(res.headers.get('x-trace-id'));
  });

  it('answers preflight itself, without Clerk', async () => {
    const res = await preflight(app, AZP, { headers: 'authorization, content-type' });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(AZP);
    expect([...res.headers.keys()].filter((h) => h.startsWith('x-clerk'))).toEqual([]);
  });

  it('gives pages a CSP that admits Clerk\'s Frontend API host, and only one CSP', async () => {
    // Not a document navigation (Clerk would hand a dev-instance document to its handshake).
    const res = await fetch(`${app.url}/`, { headers: { accept: '*/*' }, redirect: 'manual' });
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp.split(',')).toHaveLength(1);
    expect(csp).toContain("script-src 'self' 'unsafe-inline' https://example.clerk.accounts.dev");
    expect(csp).toContain("connect-src 'self' https://api.openai.com https://example.clerk.accounts.dev");
    expect(csp).toContain("frame-ancestors 'none'");
  });

  it('leaks no Clerk internals in response headers', async () => {
    const res = await postToken(app, { authorization: `Bearer ${await clerk.sign({ sub: 'user_headers' })}` });
    expect(res.status).toBe(200);
    const names = [...res.headers.keys()];
    expect(names.filter((h) => h.startsWith('x-clerk-auth-token') || h === 'x-clerk-request-data')).toEqual([]);
    // Next reports Clerk's same-path rewrite as a relative path; no internal host or port leaks.
    for (const name of names.filter((h) => h.startsWith('x-middleware'))) expect(res.headers.get(name)).not.toMatch(/:\/\/|127\.0\.0\.1|localhost/);
  });
});

describe('networkless verification', () => {
  it('never called Clerk\'s API (no JWKS fetch) for any of the requests above', () => {
    expect(clerkApiRequests).toEqual([]);
  });
});

describe('what Clerk leaves in the logs', () => {
  it('no session token, key or cookie value appears in stdout', async () => {
    const token = await clerk.sign({ sub: 'user_logcheck' });
    await send({ authorization: `Bearer ${token}` });
    await send({ cookie: `__session=${token}` });
    await send({ cookie: `__session=${tamper(token, { sub: 'x' })}` });
    await flushLogs(app);
    const out = app.stdout.join('\n');
    expect(out).not.toContain(token);
    expect(out).not.toContain(token.split('.')[2]);
    expect(out).not.toContain(clerk.secretKey);
    expect(out).not.toContain('sk-clerk-server-key');
    expect(out).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
    expect(nonJsonLines(app)).toEqual([]);
  });
});
