import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { createClerkTestKeys, signJwt, type ClerkTestKeys } from '../support/tokens';
import { ALLOWED_ORIGIN, call, sequential, tokenRequest, routeHarness } from './helpers';

/**
 * Authentication at the route: real Clerk verification (generated RS256 key,
 * offline) first, the HS256 fallback second; nothing a client or a
 * middleware can put into request headers authenticates on its own.
 */

const h = routeHarness();
let clerk: ClerkTestKeys;

beforeAll(async () => {
  clerk = await createClerkTestKeys();
});

const clerkEnv = () => ({
  CLERK_SECRET_KEY: clerk.secretKey,
  NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: clerk.publishableKey,
  CLERK_JWT_KEY: clerk.publicKeyPem,
});

describe('forged headers give no authentication', () => {
  // Headers Clerk's middleware and Next's middleware use internally; a client can send all of them.
  const forged = async (): Promise<Array<[label: string, headers: Record<string, string>]>> => {
    const valid = await signJwt({}, { subject: 'victim' });
    const clerkToken = await clerk.sign({ sub: 'victim' });
    return [
      ['x-clerk-auth-status: signed-in', { 'x-clerk-auth-status': 'signed-in' }],
      ['x-clerk-auth-token with a valid Clerk token', { 'x-clerk-auth-status': 'signed-in', 'x-clerk-auth-token': clerkToken }],
      ['x-clerk-auth-token with a valid HS256 token', { 'x-clerk-auth-token': valid }],
      ['x-clerk-auth-reason / message', { 'x-clerk-auth-reason': 'session-token-and-uat-missing', 'x-clerk-auth-message': 'ok' }],
      ['x-clerk-request-data', { 'x-clerk-request-data': Buffer.from('{"userId":"victim"}').toString('base64') }],
      ['x-middleware-subrequest (CVE-2025-29927)', { 'x-middleware-subrequest': 'middleware:middleware:middleware:middleware:middleware' }],
      ['x-middleware-override-headers + x-middleware-request-authorization', {
        'x-middleware-override-headers': 'authorization',
        'x-middleware-request-authorization': `Bearer ${valid}`,
      }],
      ['x-middleware-rewrite / next', { 'x-middleware-rewrite': '/api/realtime/token', 'x-middleware-next': '1' }],
      ['x-user-id', { 'x-user-id': 'victim' }],
      ['x-forwarded-user / x-remote-user / x-authenticated-userid', {
        'x-forwarded-user': 'victim',
        'x-remote-user': 'victim',
        'x-authenticated-userid': 'victim',
      }],
      ['x-original-authorization', { 'x-original-authorization': `Bearer ${valid}` }],
      ['x-trace-id garbage', { 'x-trace-id': '../../admin\u0001' }],
      ['proxy-authorization', { 'proxy-authorization': `Bearer ${valid}` }],
    ];
  };

  for (const [mode, env] of [['JWT only', () => ({})], ['Clerk + JWT', clerkEnv]] as const) {
    it(`${mode}: every forged header alone → 401, nothing verified as success, nothing sent upstream`, async () => {
      h.configure(env());
      for (const [label, headers] of await forged()) {
        const res = await call(POST, tokenRequest({ token: null, headers, origin: ALLOWED_ORIGIN }));
        expect(res.status, label).toBe(401);
        expect(res.body?.error, label).toBe('auth_missing');
      }
      expect(h.events('auth_success')).toHaveLength(0);
      expect(h.upstream.requests).toHaveLength(0);
    });
  }
});

describe('Clerk sessions (real verification, generated keys)', () => {
  it('a valid Clerk token in Authorization is accepted as clerk:<sub>', async () => {
    h.configure(clerkEnv());
    const res = await call(POST, tokenRequest({ token: await clerk.sign({ sub: 'user_abc' }), origin: 'http://localhost:3000' }));
    expect(res.status).toBe(200);
    expect(h.events('auth_success')[0]).toMatchObject({ userId: 'clerk:user_abc', metadata: { method: 'clerk' } });
  });

  it('a valid Clerk token in the __session cookie is accepted', async () => {
    h.configure(clerkEnv());
    const res = await call(POST, tokenRequest({ token: null, headers: { cookie: `other=1; __session=${await clerk.sign()}` } }));
    expect(res.status).toBe(200);
    expect(h.events('auth_success')[0].userId).toBe('clerk:user_clerk1');
  });

  const attacks: Array<[label: string, token: () => Promise<string>]> = [
    ['expired', () => clerk.sign({ expiresIn: -60 })],
    ['not yet valid', () => clerk.sign({ notBefore: Math.floor(Date.now() / 1000) + 600 })],
    ['azp is an unlisted origin', () => clerk.sign({ azp: 'https://evil.example' })],
    ['signed by another key pair', async () => (await createClerkTestKeys()).sign()],
    ['key confusion: HS256 signed with the Clerk public key as secret', async () =>
      new SignJWT({ sid: 'sess_x', azp: 'http://localhost:3000' })
        .setProtectedHeader({ alg: 'HS256', kid: clerk.kid, typ: 'JWT' })
        .setSubject('user_clerk1')
        .setIssuer('https://example.clerk.accounts.dev')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(clerk.publicKeyPem))],
    ['alg none with Clerk claims', async () => {
      const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      return `${enc({ alg: 'none', typ: 'JWT', kid: clerk.kid })}.${enc({ sub: 'user_clerk1', sid: 'sess_x', iat: now, nbf: now - 10, exp: now + 60, azp: 'http://localhost:3000' })}.`;
    }],
    ['signature stripped from a real token', async () => {
      const [head, payload] = (await clerk.sign()).split('.');
      return `${head}.${payload}.`;
    }],
  ];

  it.each(attacks)('%s → 401 (in Authorization and in the cookie)', async (_label, token) => {
    h.configure(clerkEnv());
    const value = await token();
    for (const options of [{ token: value }, { token: null, headers: { cookie: `__session=${value}` } }]) {
      const res = await call(POST, tokenRequest(options));
      expect(res.status).toBe(401);
      expect(res.body?.error).toBe('auth_invalid');
    }
    expect(h.events('auth_success')).toHaveLength(0);
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('Clerk alone (no JWT_SECRET): the HS256 fallback is off', async () => {
    h.configure({ ...clerkEnv(), JWT_SECRET: undefined });
    expect((await call(POST, tokenRequest({ token: await signJwt() }))).status).toBe(401);
    expect((await call(POST, tokenRequest({ token: await clerk.sign() }))).status).toBe(200);
  });

  it('with both configured, the HS256 fallback still works and the id spaces do not collide', async () => {
    h.configure(clerkEnv());
    const clerkToken = await clerk.sign({ sub: 'same' });
    const jwt = await signJwt({}, { subject: 'same' });
    const viaClerk = await sequential(11, () => call(POST, tokenRequest({ token: clerkToken })));
    expect(viaClerk.map((a) => a.status)).toEqual([...Array(10).fill(200), 429]);
    // jwt:same is a different user from clerk:same: its own 10.
    expect((await call(POST, tokenRequest({ token: jwt }))).status).toBe(200);
    expect(h.events('auth_success').at(-1)?.userId).toBe('jwt:same');
  });
});
