import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { errors as joseErrors, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { readJoseHeader } from '@/lib/auth/header';
import { createHs256Verifier, hs256VerifyOptions } from '@/lib/auth/hs256';
import { describeError } from '@/lib/auth/describe';
import { loadConfig } from '@/lib/config';

/**
 * lib/auth/hs256.ts checks the MAC of tokens our secrets signed with
 * node:crypto and hands their claims to jose's claim-set validation; every
 * other token takes jose's jwtVerify. The answer must be the one jose's
 * jwtVerify alone gives, for any token: a differential property over headers,
 * claims, secrets and tampering.
 */

const CURRENT = 'current-secret-0123456789abcdef0123456789';
const PREVIOUS = 'previous-secret-0123456789abcdef012345678';
const config = loadConfig({ JWT_SECRET: CURRENT, JWT_SECRET_PREVIOUS: PREVIOUS, JWT_ISSUER: 'https://issuer.example', JWT_AUDIENCE: 'realtime-token', JWT_MAX_AGE_SECONDS: '3600' });
const jwt = config.jwt!;
const verify = createHs256Verifier(jwt)!;
const secrets = { current: CURRENT, previous: PREVIOUS, other: 'other-secret-0123456789abcdef0123456789ab' };

/** jose alone, with the same options and rotation rule: the reference. */
async function reference(token: string) {
  let reason = 'jwt: no secret';
  for (const s of jwt.secrets) {
    try {
      const { payload } = await jwtVerify(token, s.key, hs256VerifyOptions(jwt));
      if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 256) return { ok: false, reason: 'jwt: subject must be a non-empty string' };
      return { ok: true, userId: `jwt:${payload.sub}`, keyId: s.id };
    } catch (error) {
      reason = `jwt: ${describeError(error)}`;
      if (!(error instanceof joseErrors.JWSSignatureVerificationFailed)) break;
    }
  }
  return { ok: false, reason };
}

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const sign = (input: string, secret: string) => createHmac('sha256', secret).update(input).digest('base64url');

const now = () => Math.floor(Date.now() / 1000);
const header = fc.oneof(
  fc.constant({ alg: 'HS256', typ: 'JWT' }),
  fc.constant({ alg: 'HS256' }),
  fc.constant({ alg: 'HS256', kid: 'k1' }),
  fc.constant({ alg: 'HS256', b64: false, crit: ['b64'] }),
  fc.constant({ alg: 'HS256', b64: true }),
  fc.constant({ alg: 'HS256', b64: false }),
  fc.constant({ alg: 'HS384' }),
  fc.constant({ alg: 'none' }),
  fc.constant({ alg: 'hs256' }),
  fc.constant('not json'),
  fc.constant([1, 2]),
);
const claims = fc.record(
  {
    sub: fc.oneof(fc.constant('user-1'), fc.constant(''), fc.constant(42), fc.string({ maxLength: 300 })),
    iat: fc.oneof(fc.integer({ min: -7200, max: 120 }).map((d) => now() + d), fc.constant('x')),
    exp: fc.oneof(fc.integer({ min: -120, max: 7200 }).map((d) => now() + d), fc.constant(null)),
    nbf: fc.integer({ min: -60, max: 600 }).map((d) => now() + d),
    iss: fc.constantFrom('https://issuer.example', 'https://issuer.example/', 'https://evil.example'),
    aud: fc.oneof(fc.constantFrom('realtime-token', 'other'), fc.constant(['x', 'realtime-token'])),
    plan: fc.constantFrom('free', 'pro', 7),
  },
  { requiredKeys: [] },
);
const tamper = fc.constantFrom('none', 'flip-signature', 'pad-signature', 'std-base64-signature', 'extra-segment', 'empty-signature');

describe('the HS256 fast path answers as jose does', () => {
  it('for any header, claims, secret and tampering', async () => {
    await fc.assert(
      fc.asyncProperty(header, claims, fc.constantFrom('current', 'previous', 'other') as fc.Arbitrary<keyof typeof secrets>, tamper, async (h, c, secret, how) => {
        const input = `${b64(h)}.${b64(c)}`;
        let signature = sign(input, secrets[secret]);
        if (how === 'flip-signature') signature = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
        if (how === 'pad-signature') signature += '=';
        if (how === 'std-base64-signature') signature = Buffer.from(signature, 'base64url').toString('base64');
        if (how === 'empty-signature') signature = '';
        const token = `${input}.${signature}${how === 'extra-segment' ? '.x' : ''}`;
        // The verifier gets the header lib/auth.ts read for every verifier; a token whose
        // header does not read (not JSON, crit) is refused there, before any verifier.
        const read = readJoseHeader(token);
        fc.pre(read.ok);
        const got = await verify(token, read.header);
        const want = await reference(token);
        expect(got.ok ? { ok: true, userId: got.identity.userId, keyId: got.identity.keyId } : { ok: false, reason: got.reason }).toEqual(want);
      }),
      { numRuns: 400 },
    );
  });

  it('a valid token of either secret is accepted on the fast path, naming the secret', async () => {
    for (const [id, secret] of [['current', CURRENT], ['previous', PREVIOUS]] as const) {
      const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'user-9', iat: now(), exp: now() + 60, iss: 'https://issuer.example', aud: 'realtime-token' })}`;
      const token = `${input}.${sign(input, secret)}`;
      const read = readJoseHeader(token);
      expect(read.ok && (await verify(token, read.header))).toMatchObject({ ok: true, identity: { userId: 'jwt:user-9', keyId: id } });
    }
  });
});
