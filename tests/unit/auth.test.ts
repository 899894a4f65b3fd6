import { createHmac } from 'node:crypto';
import { generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { authConfigured, createAuthenticator, extractCredential, type Authenticator, type AuthResult } from '@/lib/auth';
import { loadConfig, type AppConfig } from '@/lib/config';
import { b64url, createClerkTestKeys, signJwt, TEST_JWT_SECRET, unsignedJwt, type ClerkTestKeys } from '../support/tokens';

const now = () => Math.floor(Date.now() / 1000);

// One authenticator per configuration, as the authenticate guard builds it.
const authenticators = new WeakMap<AppConfig, Authenticator>();
function authenticate(headers: Headers, config: AppConfig): Promise<AuthResult> {
  let authenticator = authenticators.get(config);
  if (authenticator === undefined) authenticators.set(config, (authenticator = createAuthenticator(config)));
  return authenticator(headers);
}
const secret = new TextEncoder().encode(TEST_JWT_SECRET);

/** An HS256 token with exactly the given claims (nothing added). */
function hs(claims: JWTPayload, header: { alg?: string; [k: string]: unknown } = {}, key: Uint8Array = secret) {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header }).sign(key);
}

/** HS256 by hand, for headers jose refuses to produce. */
function rawHs(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${createHmac('sha256', TEST_JWT_SECRET).update(input).digest('base64url')}`;
}

const bearer = (token: string) => new Headers({ authorization: `Bearer ${token}` });
const cookie = (token: string) => new Headers({ cookie: `theme=dark; __session=${token}; other=1` });

function expectInvalid(result: AuthResult, ...secretsNotInReason: string[]) {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.code).toBe('auth_invalid');
  for (const s of secretsNotInReason) expect(result.reason).not.toContain(s);
}

let jwtOnly: AppConfig;
let clerk: ClerkTestKeys;
let otherClerk: ClerkTestKeys;
let clerkOnly: AppConfig;
let both: AppConfig;

beforeAll(async () => {
  jwtOnly = loadConfig({ NODE_ENV: 'production', JWT_SECRET: TEST_JWT_SECRET, ALLOWED_ORIGINS: 'https://app.example.com' });
  [clerk, otherClerk] = await Promise.all([createClerkTestKeys(), createClerkTestKeys()]);
  const clerkEnv = {
    NODE_ENV: 'production',
    ALLOWED_ORIGINS: 'http://localhost:3000,https://app.example.com',
    CLERK_SECRET_KEY: clerk.secretKey,
    NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: clerk.publishableKey,
    CLERK_JWT_KEY: clerk.publicKeyPem,
  };
  clerkOnly = loadConfig(clerkEnv);
  both = loadConfig({ ...clerkEnv, JWT_SECRET: TEST_JWT_SECRET });
});

describe('extractCredential', () => {
  it.each([
    ['scheme only', 'Bearer'],
    ['scheme and space', 'Bearer   '],
    ['empty header', ''],
    ['extra parts', 'Bearer abc.def.ghi extra'],
    ['two tokens (duplicate headers joined)', 'Bearer a.b.c, Bearer d.e.f'],
    ['tab separator', 'Bearer\tabc.def.ghi'],
    ['quoted token', 'Bearer "abc.def.ghi"'],
    ['token with comma', 'Bearer abc,def'],
    ['token with semicolon', 'Bearer abc;def'],
    ['bearer glued to token', 'Bearerabc.def.ghi'],
    ['non-ASCII token', 'Bearer abc.déf.ghi'],
    ['padding in the middle', 'Bearer ab=c.def'],
    ['oversized token', `Bearer ${'a'.repeat(8193)}`],
    ['a quoted string where the scheme should be', '"Bearer" abc'],
    ['a separator first', ', Bearer abc'],
  ])('%s is malformed', (_label, value) => {
    expect(extractCredential(new Headers({ authorization: value })).kind).toBe('malformed');
  });

  it.each([
    ['Basic', 'Basic dXNlcjpwYXNz', 'Basic'],
    ['Digest', 'Digest username="x", realm="y"', 'Digest'],
    ['an unknown scheme', 'Token abc.def.ghi', 'Token'],
    ['a bare token (a scheme with no parameters), not named in logs', 'abc.def.ghi', '(unnamed)'],
    ['a bare opaque secret, not named in logs', 'opaqueSecretValue0123456789abcdef', '(unnamed)'],
    ['Negotiate', 'Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg', 'Negotiate'],
  ])('%s is another scheme (RFC 6750 §3.1), not a malformed Bearer', (_label, value, scheme) => {
    expect(extractCredential(new Headers({ authorization: value }))).toEqual({ kind: 'unsupported', scheme });
  });

  it.each([
    ['standard', 'Bearer abc.def.ghi', 'abc.def.ghi'],
    ['lower-case scheme', 'bearer abc.def.ghi', 'abc.def.ghi'],
    ['upper-case scheme', 'BEARER abc.def.ghi', 'abc.def.ghi'],
    ['several spaces', 'Bearer   abc.def.ghi', 'abc.def.ghi'],
    ['b64token characters', 'Bearer a-b_c~d+e/f.g=', 'a-b_c~d+e/f.g='],
    ['largest token', `Bearer ${'a'.repeat(8192)}`, 'a'.repeat(8192)],
  ])('%s is read from the header', (_label, value, token) => {
    expect(extractCredential(new Headers({ authorization: value }))).toEqual({ kind: 'token', token, source: 'authorization' });
  });

  it('falls back to the __session cookie only when there is no Authorization header', () => {
    expect(extractCredential(cookie('a.b.c'))).toEqual({ kind: 'token', token: 'a.b.c', source: 'cookie' });
    const h = cookie('a.b.c');
    h.set('authorization', 'Basic x');
    expect(extractCredential(h).kind).toBe('unsupported');
    h.set('authorization', 'Bearer a b');
    expect(extractCredential(h).kind).toBe('malformed');
  });

  it.each([
    ['no headers', {}],
    ['other cookies', { cookie: 'session=a.b.c; __session_x=a.b.c; x__session=a.b.c' }],
    ['empty __session', { cookie: '__session=' }],
    ['oversized __session', { cookie: `__session=${'a'.repeat(8193)}` }],
    ['token-like headers that are not Authorization', { 'x-access-token': 'a.b.c', 'x-clerk-auth-token': 'a.b.c' }],
  ])('%s → none', (_label, init) => {
    expect(extractCredential(new Headers(init))).toEqual({ kind: 'none' });
  });
});

describe('authConfigured', () => {
  it('is true only with a JWT secret or both Clerk keys', () => {
    expect(authConfigured(loadConfig({}))).toBe(false);
    expect(authConfigured(jwtOnly)).toBe(true);
    expect(authConfigured(clerkOnly)).toBe(true);
  });
});

describe('request shape failures', () => {
  it('no credentials → auth_missing', async () => {
    expect(await authenticate(new Headers(), jwtOnly)).toMatchObject({ ok: false, code: 'auth_missing' });
  });

  it.each(['Bearer', 'Bearer a b', 'Bearer a.b.c;x'])('%j → auth_malformed', async (value) => {
    expect(await authenticate(new Headers({ authorization: value }), jwtOnly)).toMatchObject({ ok: false, code: 'auth_malformed' });
  });

  it.each(['Basic dXNlcjpwYXNz', 'Digest username="x"', 'Token abc.def.ghi'])('%j → auth_scheme_unsupported, the credentials unread', async (value) => {
    const result = await authenticate(new Headers({ authorization: value }), jwtOnly);
    expect(result).toMatchObject({ ok: false, code: 'auth_scheme_unsupported' });
    if (!result.ok) expect(result.reason).not.toContain(value.split(' ')[1]);
  });

  it.each([
    ['opaque token', 'abcdef'],
    ['two segments', 'abc.def'],
    ['four segments', 'a.b.c.d'],
    ['JWT-shaped garbage', 'abc.def.ghi'],
    ['truncated base64 JSON', 'eyJhbGc.eyJ.x'],
    ['JSON that is not an object', `${b64url('"x"')}.${b64url('"y"')}.sig`],
    ['empty segments', '..'],
    ['an OpenAI key', 'sk-proj-abcdefghijklmnop'],
  ])('%s → auth_invalid', async (_label, token) => {
    expectInvalid(await authenticate(bearer(token), jwtOnly), token.length > 6 ? token : 'never');
  });
});

describe('HS256 fallback (JWT_SECRET only)', () => {
  it('accepts a valid HS256 token, keyed as jwt:<sub>', async () => {
    expect(await authenticate(bearer(await signJwt()), jwtOnly)).toEqual({
      ok: true,
      identity: { userId: 'jwt:user-1', method: 'jwt', keyId: 'current' },
    });
  });

  it('accepts a hand-signed token (the control for the hand-made header cases below)', async () => {
    const token = rawHs({ alg: 'HS256', typ: 'JWT' }, { sub: 'u', iat: now(), exp: now() + 60 });
    expect((await authenticate(bearer(token), jwtOnly)).ok).toBe(true);
  });

  it('accepts an expiry just inside the clock tolerance', async () => {
    const token = await hs({ sub: 'u', iat: now() - 30, exp: now() - 2 });
    expect((await authenticate(bearer(token), jwtOnly)).ok).toBe(true);
  });

  it('cannot collide with a Clerk id space', async () => {
    const result = await authenticate(bearer(await signJwt({}, { subject: 'clerk:user_1' })), jwtOnly);
    expect(result).toMatchObject({ ok: true, identity: { userId: 'jwt:clerk:user_1' } });
  });

  const attacks: Array<[string, () => Promise<string>]> = [
    ['alg none', async () => unsignedJwt({ sub: 'admin', iat: now(), exp: now() + 60 })],
    ['alg None', async () => unsignedJwt({ sub: 'admin', iat: now(), exp: now() + 60 }, { alg: 'None', typ: 'JWT' })],
    ['alg NONE', async () => unsignedJwt({ sub: 'admin', iat: now(), exp: now() + 60 }, { alg: 'NONE' })],
    ['alg HS256 with the signature stripped', async () => (await signJwt()).replace(/\.[^.]+$/, '.')],
    ['no alg at all', async () => unsignedJwt({ sub: 'admin', iat: now(), exp: now() + 60 }, { typ: 'JWT' })],
    ['HS384 with the right secret', async () => signJwt({}, { alg: 'HS384' })],
    ['HS512 with the right secret', async () => signJwt({}, { alg: 'HS512' })],
    // A generated RS256 key (the Clerk helper's), valid claims: only the algorithm is wrong.
    ['RS256 with a generated key', () => otherClerk.sign({ sub: 'admin' })],
    [
      'ES256 with a generated key',
      async () => {
        const { privateKey } = await generateKeyPair('ES256');
        return new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('admin').setIssuedAt().setExpirationTime('5m').sign(privateKey);
      },
    ],
    ['wrong secret', async () => signJwt({}, { secret: 'another-secret-that-is-32-bytes-long!!' })],
    ['secret with one byte changed', async () => signJwt({}, { secret: TEST_JWT_SECRET.slice(0, -1) + 'X' })],
    ['expired', async () => hs({ sub: 'u', iat: now() - 120, exp: now() - 60 })],
    ['no exp', async () => hs({ sub: 'u', iat: now() })],
    ['no iat', async () => hs({ sub: 'u', exp: now() + 60 })],
    ['no sub', async () => hs({ iat: now(), exp: now() + 60 })],
    ['empty sub', async () => hs({ sub: '', iat: now(), exp: now() + 60 })],
    ['numeric sub', async () => hs({ sub: 42 as unknown as string, iat: now(), exp: now() + 60 })],
    ['oversized sub', async () => hs({ sub: 'u'.repeat(257), iat: now(), exp: now() + 60 })],
    ['string exp', async () => hs({ sub: 'u', iat: now(), exp: String(now() + 60) as unknown as number })],
    ['iat too old (max token age 1 h)', async () => hs({ sub: 'u', iat: now() - 7200, exp: now() + 3600 })],
    ['iat in the future', async () => hs({ sub: 'u', iat: now() + 3600, exp: now() + 7200 })],
    ['nbf in the future', async () => hs({ sub: 'u', iat: now(), nbf: now() + 600, exp: now() + 900 })],
    ['unknown critical header', async () => rawHs({ alg: 'HS256', crit: ['x-must-understand'], 'x-must-understand': true }, { sub: 'u', iat: now(), exp: now() + 60 })],
    ['unencoded payload (b64: false) header', async () => rawHs({ alg: 'HS256', typ: 'JWT', b64: false, crit: ['b64'] }, { sub: 'u', iat: now(), exp: now() + 60 })],
    [
      'payload swapped under a valid signature',
      async () => {
        const [h, , s] = (await signJwt({}, { subject: 'user-1' })).split('.');
        return `${h}.${b64url(JSON.stringify({ sub: 'admin', iat: now(), exp: now() + 60 }))}.${s}`;
      },
    ],
    [
      'header swapped to none under a valid signature',
      async () => {
        const [, p, s] = (await signJwt()).split('.');
        return `${b64url(JSON.stringify({ alg: 'none' }))}.${p}.${s}`;
      },
    ],
  ];

  it.each(attacks)('refuses %s', async (_label, make) => {
    const token = await make();
    expectInvalid(await authenticate(bearer(token), jwtOnly), token, TEST_JWT_SECRET);
  });

  it('refuses an HS256 token signed with the Clerk PEM public key as the secret (key confusion)', async () => {
    const token = await hs({ sub: 'admin', iat: now(), exp: now() + 60 }, {}, new TextEncoder().encode(clerk.publicKeyPem));
    expectInvalid(await authenticate(bearer(token), jwtOnly), token);
  });

  it('never reads an HS256 token from the __session cookie', async () => {
    const token = await signJwt();
    expectInvalid(await authenticate(cookie(token), jwtOnly), token);
  });

  describe('with issuer and audience configured', () => {
    let strict: AppConfig;
    beforeAll(() => {
      strict = loadConfig({ JWT_SECRET: TEST_JWT_SECRET, JWT_ISSUER: 'https://issuer.example', JWT_AUDIENCE: 'realtime-token' });
    });

    it.each([
      ['matching issuer and audience', { iss: 'https://issuer.example', aud: 'realtime-token' }, true],
      ['audience among several', { iss: 'https://issuer.example', aud: ['other', 'realtime-token'] }, true],
      ['no issuer', { aud: 'realtime-token' }, false],
      ['no audience', { iss: 'https://issuer.example' }, false],
      ['wrong issuer', { iss: 'https://evil.example', aud: 'realtime-token' }, false],
      ['issuer with trailing slash', { iss: 'https://issuer.example/', aud: 'realtime-token' }, false],
      ['wrong audience', { iss: 'https://issuer.example', aud: 'other' }, false],
      ['audience case', { iss: 'https://issuer.example', aud: 'Realtime-Token' }, false],
    ])('%s', async (_label, claims, ok) => {
      const result = await authenticate(bearer(await signJwt(claims)), strict);
      expect(result.ok).toBe(ok);
      if (!ok) expect(result).toMatchObject({ code: 'auth_invalid' });
    });
  });

  it('a short max token age is enforced', async () => {
    const config = loadConfig({ JWT_SECRET: TEST_JWT_SECRET, JWT_MAX_AGE_SECONDS: '60', JWT_CLOCK_TOLERANCE_SECONDS: '0' });
    expect((await authenticate(bearer(await hs({ sub: 'u', iat: now() - 30, exp: now() + 600 })), config)).ok).toBe(true);
    expect((await authenticate(bearer(await hs({ sub: 'u', iat: now() - 120, exp: now() + 600 })), config)).ok).toBe(false);
  });
});

describe('Clerk (networkless with CLERK_JWT_KEY)', () => {
  it('accepts a real session token in the Authorization header, keyed as clerk:<sub>', async () => {
    expect(await authenticate(bearer(await clerk.sign()), clerkOnly)).toEqual({
      ok: true,
      identity: { userId: 'clerk:user_clerk1', method: 'clerk', sessionId: 'sess_test123' },
    });
  });

  it('accepts a session token from the __session cookie', async () => {
    expect(await authenticate(cookie(await clerk.sign({ sub: 'user_cookie' })), clerkOnly)).toMatchObject({
      ok: true,
      identity: { userId: 'clerk:user_cookie', method: 'clerk' },
    });
  });

  it('accepts every allowed origin as the authorized party', async () => {
    expect((await authenticate(bearer(await clerk.sign({ azp: 'https://app.example.com' })), clerkOnly)).ok).toBe(true);
  });

  const attacks: Array<[string, () => Promise<string>]> = [
    ['signed with another key', () => otherClerk.sign()],
    ['expired', () => clerk.sign({ expiresIn: -60 })],
    ['not yet valid', () => clerk.sign({ notBefore: now() + 600, expiresIn: 900 })],
    ['azp not an allowed origin', () => clerk.sign({ azp: 'https://evil.example.com' })],
    ['azp a suffix of an allowed origin', () => clerk.sign({ azp: 'https://app.example.com.evil.com' })],
    ['empty sub', () => clerk.sign({ sub: '' })],
    ['alg none', async () => unsignedJwt({ sub: 'user_x', sid: 's', azp: 'http://localhost:3000', iat: now(), nbf: now() - 10, exp: now() + 60 })],
    ['HS256 with the right JWT secret', () => signJwt()],
    [
      'HS256 signed with the Clerk PEM public key (key confusion)',
      () =>
        hs(
          { sub: 'user_x', sid: 's', azp: 'http://localhost:3000', iat: now(), nbf: now() - 10, exp: now() + 60 },
          { kid: 'ins_test_key' },
          new TextEncoder().encode(clerk.publicKeyPem),
        ),
    ],
    [
      'payload swapped under a valid signature',
      async () => {
        const [h, , s] = (await clerk.sign()).split('.');
        return `${h}.${b64url(JSON.stringify({ sub: 'user_admin', azp: 'http://localhost:3000', iat: now(), nbf: now() - 10, exp: now() + 60 }))}.${s}`;
      },
    ],
  ];

  it.each(attacks)('refuses a token %s (header)', async (_label, make) => {
    const token = await make();
    expectInvalid(await authenticate(bearer(token), clerkOnly), token, clerk.secretKey);
  });

  it.each(attacks)('refuses a token %s (cookie)', async (_label, make) => {
    const token = await make();
    expectInvalid(await authenticate(cookie(token), clerkOnly), token, clerk.secretKey);
  });
});

describe('RFC 7515 §4.1.11: a crit header naming anything is refused on every path', () => {
  const claims = () => ({ sub: 'u', iat: now(), exp: now() + 60 });
  const clerkCrit = (header: Record<string, unknown>) => () => clerk.sign({ header });

  it.each([
    ['Clerk, crit: ["x-anything"]', clerkCrit({ crit: ['x-anything'], 'x-anything': true })],
    ['Clerk, crit naming a registered header', clerkCrit({ crit: ['kid'] })],
    ['Clerk, empty crit', async () => {
      const [, p, sig] = (await clerk.sign()).split('.');
      return `${b64url(JSON.stringify({ alg: 'RS256', kid: clerk.kid, typ: 'JWT', crit: [] }))}.${p}.${sig}`;
    }],
  ])('%s (header and cookie)', async (_label, make) => {
    const token = await make();
    for (const headers of [bearer(token), cookie(token)]) {
      const result = await authenticate(headers, both);
      expectInvalid(result, token);
      if (!result.ok) expect(result.reason).toMatch(/crit/);
    }
  });

  it('a Clerk token with crit is refused before Clerk verifies it (Clerk alone would accept it)', async () => {
    const token = await clerk.sign({ header: { crit: ['x-anything'], 'x-anything': true } });
    const result = await authenticate(bearer(token), clerkOnly);
    expect(result).toMatchObject({ ok: false, code: 'auth_invalid', reason: 'authorization credential refused: JOSE header has crit: no extension is supported' });
  });

  it.each([
    ['HS256, crit: ["x-anything"]', () => rawHs({ alg: 'HS256', crit: ['x-anything'], 'x-anything': 1 }, claims())],
    ['HS256, crit: ["exp"] (a registered claim name)', () => rawHs({ alg: 'HS256', crit: ['exp'] }, claims())],
  ])('%s', async (_label, make) => {
    expectInvalid(await authenticate(bearer(make()), jwtOnly));
  });

  it.each([
    ['a repeated alg (none, then HS256)', '{"alg":"none","alg":"HS256"}'],
    ['a repeated crit', '{"alg":"HS256","crit":["x"],"crit":[]}'],
    ['a header that is not an object', '["HS256"]'],
    ['a header without alg', '{"typ":"JWT"}'],
    ['a numeric kid', '{"alg":"HS256","kid":7}'],
  ])('refuses a JOSE header with %s', async (_label, headerJson) => {
    const input = `${b64url(headerJson)}.${b64url(JSON.stringify(claims()))}`;
    const token = `${input}.${createHmac('sha256', TEST_JWT_SECRET).update(input).digest('base64url')}`;
    expectInvalid(await authenticate(bearer(token), both), token);
  });
});

describe('JWT_SECRET rotation (JWT_SECRET_PREVIOUS)', () => {
  const CURRENT = 'current-secret-0123456789abcdef0123456789';
  const PREVIOUS = 'previous-secret-0123456789abcdef012345678';
  let rotating: AppConfig;
  let rotated: AppConfig;
  beforeAll(() => {
    rotating = loadConfig({ JWT_SECRET: CURRENT, JWT_SECRET_PREVIOUS: PREVIOUS });
    rotated = loadConfig({ JWT_SECRET: CURRENT });
  });

  it('a token signed with the current secret verifies as "current"', async () => {
    expect(await authenticate(bearer(await signJwt({}, { secret: CURRENT })), rotating)).toEqual({
      ok: true,
      identity: { userId: 'jwt:user-1', method: 'jwt', keyId: 'current' },
    });
  });

  it('a token signed with the previous secret keeps working, as "previous"', async () => {
    expect(await authenticate(bearer(await signJwt({}, { secret: PREVIOUS })), rotating)).toEqual({
      ok: true,
      identity: { userId: 'jwt:user-1', method: 'jwt', keyId: 'previous' },
    });
  });

  it('once JWT_SECRET_PREVIOUS is removed, the previous secret verifies nothing', async () => {
    expectInvalid(await authenticate(bearer(await signJwt({}, { secret: PREVIOUS })), rotated), PREVIOUS);
    expect((await authenticate(bearer(await signJwt({}, { secret: CURRENT })), rotated)).ok).toBe(true);
  });

  it('a token under neither secret is refused, and the reason names no secret', async () => {
    expectInvalid(await authenticate(bearer(await signJwt({}, { secret: 'x'.repeat(40) })), rotating), CURRENT, PREVIOUS);
  });

  it('a token whose signature matched the current secret but whose claims fail is not retried with the previous one', async () => {
    const expired = await hs({ sub: 'u', iat: now() - 120, exp: now() - 60 }, {}, new TextEncoder().encode(CURRENT));
    expect(await authenticate(bearer(expired), rotating)).toMatchObject({ ok: false, code: 'auth_invalid', reason: 'jwt: ERR_JWT_EXPIRED' });
  });
});

describe('Clerk and JWT both configured', () => {
  it('a Clerk session token works', async () => {
    expect(await authenticate(bearer(await clerk.sign()), both)).toMatchObject({ ok: true, identity: { userId: 'clerk:user_clerk1', method: 'clerk' } });
  });

  it('an HS256 API token works', async () => {
    expect(await authenticate(bearer(await signJwt()), both)).toEqual({ ok: true, identity: { userId: 'jwt:user-1', method: 'jwt', keyId: 'current' } });
  });

  it('an HS256 token in the __session cookie is not accepted', async () => {
    expectInvalid(await authenticate(cookie(await signJwt()), both));
  });

  it('a Clerk cookie still works', async () => {
    expect((await authenticate(cookie(await clerk.sign()), both)).ok).toBe(true);
  });

  it.each([
    ['HS256 signed with the Clerk PEM', () => hs({ sub: 'x', iat: now(), exp: now() + 60 }, {}, new TextEncoder().encode(clerk.publicKeyPem))],
    ['RS256 by another Clerk key', () => otherClerk.sign()],
    ['HS256 with the wrong secret', () => signJwt({}, { secret: 'x'.repeat(40) })],
    ['alg none', async () => unsignedJwt({ sub: 'x', iat: now(), exp: now() + 60 })],
  ])('refuses %s, and the reason names both verifiers without the token', async (_label, make) => {
    const token = await make();
    const result = await authenticate(bearer(token), both);
    expectInvalid(result, token);
    if (!result.ok) expect(result.reason).toMatch(/^clerk: .*; jwt: /);
  });
});
