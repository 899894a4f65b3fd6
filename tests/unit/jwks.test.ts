import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAuthenticator, type Authenticator, type AuthResult } from '@/lib/auth';
import { loadConfig } from '@/lib/config';
import { createIdpKey, deadUrl, IDP_AUDIENCE, IDP_ISSUER, startJwksServer, type IdpKey, type JwksServer } from '../support/jwks';
import { b64url, signJwt, TEST_JWT_SECRET } from '../support/tokens';

/**
 * Identity-provider JWTs (lib/auth/jwks.ts) against a real loopback JWKS
 * server. Only `Date` is faked, so cooldowns and cache ages pass without
 * sleeping; the HTTP traffic is real and counted on the server.
 */

const COOLDOWN_MS = 30_000;
const CACHE_MS = 600_000;

let server: JwksServer;
let k1: IdpKey;
let k2: IdpKey;
let ec: IdpKey;
let stranger: IdpKey;

beforeAll(async () => {
  [k1, k2, ec, stranger] = await Promise.all([createIdpKey('k1'), createIdpKey('k2'), createIdpKey('ec1', 'ES256'), createIdpKey('k1')]);
  server = await startJwksServer([k1, ec]);
});
afterAll(async () => {
  await server?.close();
});

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-12-01T10:00:00Z'));
  server.setMode('ok');
  server.publish([k1, ec]);
});
afterEach(() => {
  vi.useRealTimers();
});

function env(overrides: Record<string, string> = {}) {
  return {
    NODE_ENV: 'production',
    ALLOWED_ORIGINS: 'https://app.example.com',
    JWT_JWKS_URL: server.url,
    JWT_ALGORITHMS: 'RS256,ES256',
    JWT_ISSUER: IDP_ISSUER,
    JWT_AUDIENCE: IDP_AUDIENCE,
    JWT_JWKS_TIMEOUT_MS: '300',
    ...overrides,
  };
}

const bearer = (token: string) => new Headers({ authorization: `Bearer ${token}` });
const advance = (ms: number) => vi.setSystemTime(Date.now() + ms);

/** A fresh authenticator (its own key set and cache) and the server's fetch count at its start. */
function fresh(overrides: Record<string, string> = {}): { auth: Authenticator; fetchesSince: () => number } {
  const auth = createAuthenticator(loadConfig(env(overrides)));
  const start = server.fetches;
  return { auth, fetchesSince: () => server.fetches - start };
}

function expectCode(result: AuthResult, code: string) {
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.code).toBe(code);
}

describe('identity-provider tokens', () => {
  it('accepts RS256 and ES256 tokens from the key set, keyed as jwks:<sub>, naming the kid', async () => {
    const { auth, fetchesSince } = fresh();
    expect(await auth(bearer(await k1.sign({}, { subject: 'alice' })))).toEqual({
      ok: true,
      identity: { userId: 'jwks:alice', method: 'jwks', keyId: 'k1' },
    });
    expect(await auth(bearer(await ec.sign({}, { subject: 'bob' })))).toMatchObject({ ok: true, identity: { userId: 'jwks:bob', keyId: 'ec1' } });
    for (let i = 0; i < 20; i++) expect((await auth(bearer(await k1.sign()))).ok).toBe(true);
    expect(fetchesSince()).toBe(1);
  });

  const attacks: Array<[string, () => Promise<string>]> = [
    ['another issuer', () => k1.sign({}, { issuer: 'https://evil.example/' })],
    ['another audience (a token minted for another app)', () => k1.sign({}, { audience: 'some-other-api' })],
    ['expired', () => k1.sign({}, { expiresIn: Math.floor(Date.now() / 1000) - 60 })],
    ['signed by a key that is not in the set, under a kid that is', () => stranger.sign()],
    ['an unknown critical header', () => k1.sign({}, { header: { crit: ['x-anything'], 'x-anything': 1 } })],
    ['HS256 (no secret configured: a JWKS never verifies HMAC)', () => signJwt()],
    [
      'HS256 keyed with the public key modulus (key confusion)',
      async () => signJwt({ iss: IDP_ISSUER, aud: IDP_AUDIENCE }, { secret: String(k1.publicJwk.n) }),
    ],
    ['alg none', async () => `${b64url(JSON.stringify({ alg: 'none', kid: 'k1' }))}.${b64url(JSON.stringify({ sub: 'x', iss: IDP_ISSUER, aud: IDP_AUDIENCE }))}.`],
    [
      'payload swapped under a valid signature',
      async () => {
        const [h, , s] = (await k1.sign()).split('.');
        const now = Math.floor(Date.now() / 1000);
        return `${h}.${b64url(JSON.stringify({ sub: 'admin', iss: IDP_ISSUER, aud: IDP_AUDIENCE, iat: now, exp: now + 60 }))}.${s}`;
      },
    ],
  ];

  it.each(attacks)('refuses %s', async (_label, make) => {
    const { auth } = fresh();
    expectCode(await auth(bearer(await make())), 'auth_invalid');
  });

  it('refuses an algorithm the key set has but JWT_ALGORITHMS does not allow', async () => {
    const { auth, fetchesSince } = fresh({ JWT_ALGORITHMS: 'RS256' });
    expect((await auth(bearer(await k1.sign()))).ok).toBe(true);
    expectCode(await auth(bearer(await ec.sign())), 'auth_invalid');
    expect(fetchesSince()).toBe(1);
  });

  it('never reads an identity-provider token from the __session cookie', async () => {
    const { auth, fetchesSince } = fresh();
    expectCode(await auth(new Headers({ cookie: `__session=${await k1.sign()}` })), 'auth_invalid');
    expect(fetchesSince()).toBe(0);
  });

  it('works next to HS256: each token goes to the verifier its alg names', async () => {
    const { auth } = fresh({ JWT_SECRET: TEST_JWT_SECRET });
    expect(await auth(bearer(await signJwt({ iss: IDP_ISSUER, aud: IDP_AUDIENCE })))).toMatchObject({ ok: true, identity: { userId: 'jwt:user-1', method: 'jwt' } });
    expect(await auth(bearer(await k1.sign()))).toMatchObject({ ok: true, identity: { userId: 'jwks:idp-user-1', method: 'jwks' } });
  });
});

describe('key rotation at the identity provider', () => {
  it('a new kid is picked up after the cooldown; a removed kid stops verifying once the cache is refreshed', async () => {
    const { auth, fetchesSince } = fresh({ JWT_JWKS_COOLDOWN_SECONDS: '30', JWT_JWKS_CACHE_SECONDS: '600' });
    expect((await auth(bearer(await k1.sign()))).ok).toBe(true);

    // The provider publishes k2 next to k1 and starts signing with it.
    server.publish([k1, k2]);
    advance(COOLDOWN_MS + 1);
    expect(await auth(bearer(await k2.sign()))).toMatchObject({ ok: true, identity: { keyId: 'k2' } });
    expect(fetchesSince()).toBe(2);
    expect((await auth(bearer(await k1.sign()))).ok).toBe(true);

    // k1 is withdrawn: tokens under it work until the cached set is refreshed, then never again.
    server.publish([k2]);
    expect((await auth(bearer(await k1.sign()))).ok).toBe(true);
    advance(CACHE_MS + 1);
    expectCode(await auth(bearer(await k1.sign())), 'auth_invalid');
    expect((await auth(bearer(await k2.sign()))).ok).toBe(true);
    expect(fetchesSince()).toBe(3);
  });

  it('a kid published less than one cooldown after the last fetch is refused until the cooldown passes', async () => {
    const { auth, fetchesSince } = fresh();
    expect((await auth(bearer(await k1.sign()))).ok).toBe(true);
    server.publish([k1, k2]);
    advance(COOLDOWN_MS - 1000);
    expectCode(await auth(bearer(await k2.sign())), 'auth_invalid');
    expect(fetchesSince()).toBe(1);
    advance(1001);
    expect((await auth(bearer(await k2.sign()))).ok).toBe(true);
    expect(fetchesSince()).toBe(2);
  });
});

describe('the fetch cooldown holds whatever clients send in kid', () => {
  /** Tokens under kids the provider never published. */
  const unknownKid = (i: number) => stranger.sign({}, { header: { kid: `forged-${i}-${Math.random()}` } });

  it('a flood of unknown kids, concurrent and sequential, fetches at most once per cooldown', async () => {
    const { auth, fetchesSince } = fresh();
    const forged = await Promise.all(Array.from({ length: 50 }, (_, i) => unknownKid(i)));
    // Cold start, 50 at once: jose shares one fetch.
    const first = await Promise.all(forged.map((t) => auth(bearer(t))));
    for (const r of first) expectCode(r, 'auth_invalid');
    expect(fetchesSince()).toBe(1);
    // Ten cooldowns, each flooded 50 times at ten points inside it.
    for (let window = 0; window < 10; window++) {
      for (let step = 0; step < 10; step++) {
        advance(COOLDOWN_MS / 10);
        await Promise.all(forged.slice(0, 5).map((t) => auth(bearer(t))));
      }
    }
    expect(fetchesSince()).toBeLessThanOrEqual(11);
    expect(fetchesSince()).toBeGreaterThanOrEqual(10);
  });

  it('while the key set is unreachable, a flood still fetches at most once per cooldown', async () => {
    const { auth, fetchesSince } = fresh();
    server.setMode('status500');
    const forged = await Promise.all(Array.from({ length: 20 }, (_, i) => unknownKid(i)));
    for (let step = 0; step < 30; step++) {
      await Promise.all(forged.map((t) => auth(bearer(t))));
      advance(COOLDOWN_MS / 10);
    }
    // 30 bursts over three cooldowns: the first attempt and one per cooldown after it.
    expect(fetchesSince()).toBeLessThanOrEqual(4);
  });
});

describe('an unusable key set is 503 auth_unavailable, reported once per outage', () => {
  const outages: Array<[string, (s: JwksServer) => void]> = [
    ['answers 500', (s) => s.setMode('status500')],
    ['answers HTML', (s) => s.setMode('garbage')],
    ['answers JSON that is not a JWK set', (s) => s.setMode('notKeySet')],
    ['answers 1 MiB', (s) => s.setMode('huge')],
    ['never answers (past JWT_JWKS_TIMEOUT_MS)', (s) => s.setMode('hang')],
  ];

  it.each(outages)('a JWKS that %s', async (_label, breakIt) => {
    breakIt(server);
    const { auth, fetchesSince } = fresh();
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await auth(bearer(await k1.sign())));
    for (const r of results) expectCode(r, 'auth_unavailable');
    expect(results.map((r) => !r.ok && r.report)).toEqual([true, ...Array(9).fill(false)]);
    expect(fetchesSince()).toBe(1);
  });

  it('a JWKS URL where nothing listens', async () => {
    const auth = createAuthenticator(loadConfig(env({ JWT_JWKS_URL: await deadUrl() })));
    const first = await auth(bearer(await k1.sign()));
    expect(first).toMatchObject({ ok: false, code: 'auth_unavailable', report: true });
    if (!first.ok) expect(first.reason).toMatch(/^jwks: fetch failed/);
    expect(await auth(bearer(await k1.sign()))).toMatchObject({ ok: false, code: 'auth_unavailable', report: false });
  });

  it('recovers when the key set answers again, and a later outage is reported again', async () => {
    const { auth } = fresh();
    server.setMode('status500');
    expect(await auth(bearer(await k1.sign()))).toMatchObject({ code: 'auth_unavailable', report: true });
    server.setMode('ok');
    expect(await auth(bearer(await k1.sign()))).toMatchObject({ code: 'auth_unavailable', report: false });
    advance(COOLDOWN_MS);
    expect((await auth(bearer(await k1.sign()))).ok).toBe(true);
    server.setMode('status500');
    advance(CACHE_MS + 1);
    expect(await auth(bearer(await k1.sign()))).toMatchObject({ code: 'auth_unavailable', report: true });
  });

  it('a key set holding a private key is unusable, not a pass', async () => {
    const { generateKeyPair, exportJWK } = await import('jose');
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const leaked = { ...k1, publicJwk: { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'RS256' } };
    server.publish([leaked]);
    const { auth } = fresh();
    expect(await auth(bearer(await k1.sign()))).toMatchObject({ ok: false, code: 'auth_unavailable', report: true });
  });
});
