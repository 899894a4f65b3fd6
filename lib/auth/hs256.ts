import { createHmac, timingSafeEqual } from 'node:crypto';
import { errors as joseErrors, jwtVerify, UnsecuredJWT, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { JwtConfig, JwtKeyId } from '../config';
import type { JoseHeader } from './header';
import { describeError } from './describe';
import { planClaim } from '../plans';
import type { Verified } from './types';

/**
 * HS256 tokens for direct API access, with rotation: the current secret is
 * tried first, then the previous one (`JWT_SECRET_PREVIOUS`) while it is
 * configured. Only a signature mismatch moves on to the next secret; a token
 * whose signature matched but whose claims fail is refused there.
 */
export function createHs256Verifier(jwt: JwtConfig | undefined): ((token: string, header: JoseHeader) => Promise<Verified>) | undefined {
  if (jwt === undefined) return undefined;
  const options = hs256VerifyOptions(jwt);
  const keys = jwt.secrets.map((s) => ({ id: s.id, secret: s.key, key: hmacKey(s.key) }));
  const accept = (payload: JWTPayload, id: JwtKeyId): Verified => {
    if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 256) {
      return { ok: false, code: 'auth_invalid', reason: 'jwt: subject must be a non-empty string' };
    }
    return { ok: true, identity: { userId: `jwt:${payload.sub}`, method: 'jwt', keyId: id, plan: planClaim(payload) } };
  };
  return async (token, header) => {
    // Fast path: a token one of our secrets signed. The MAC is checked here,
    // synchronously; the claims by jose's own claim-set validation (the one
    // jwtVerify runs). Every other token takes jose's whole path below, so its
    // refusal reason is jose's.
    const signed = signedBy(token, header, keys);
    if (signed !== undefined) {
      try {
        return accept(UnsecuredJWT.decode(`${NONE_HEADER}.${signed.payload}.`, options).payload, signed.id);
      } catch (error) {
        return { ok: false, code: 'auth_invalid', reason: `jwt: ${describeError(error)}` };
      }
    }
    let reason = 'jwt: no secret';
    for (const { id, key } of keys) {
      try {
        const { payload } = await jwtVerify(token, await key(), options);
        return accept(payload, id);
      } catch (error) {
        reason = `jwt: ${describeError(error)}`;
        if (!(error instanceof joseErrors.JWSSignatureVerificationFailed)) break;
      }
    }
    return { ok: false, code: 'auth_invalid', reason };
  };
}

/** What jose checks of an HS256 token under `jwt` (also the reference of tests/unit/hs256-fast-path.test.ts). */
export function hs256VerifyOptions(jwt: JwtConfig): JWTVerifyOptions {
  return {
    algorithms: ['HS256'],
    requiredClaims: ['exp', 'iat', 'sub'],
    issuer: jwt.issuer,
    audience: jwt.audience,
    clockTolerance: jwt.clockToleranceSeconds,
    maxTokenAge: jwt.maxAgeSeconds,
  };
}

/** `{"alg":"none"}`: UnsecuredJWT.decode takes the payload only under it. */
const NONE_HEADER = Buffer.from('{"alg":"none"}').toString('base64url');

/**
 * The secret that signed `token` and its payload segment, when the token is
 * three segments, its header says exactly HS256, and the signature segment is
 * the canonical base64url of HMAC-SHA256(secret, header.payload), compared in
 * constant time. `header` is the one lib/auth/header.ts read (and parsed) for
 * every verifier. jose verifies HMAC through WebCrypto, an asynchronous job per
 * token that cost about 0.2 ms of the main thread's time per request in the
 * end-to-end bench (bench/e2e.mjs); node:crypto's HMAC is synchronous and a
 * few microseconds. `crit` was refused already (lib/auth/header.ts), so an
 * unencoded payload (RFC 7797 `b64`, which only counts when `crit` names it)
 * cannot reach here; jose, too, ignores `b64` without `crit`.
 */
function signedBy(token: string, header: JoseHeader, keys: ReadonlyArray<{ id: JwtKeyId; secret: Uint8Array }>): { id: JwtKeyId; payload: string } | undefined {
  if (header.alg !== 'HS256') return undefined;
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || token.indexOf('.', second + 1) !== -1) return undefined;
  const signingInput = token.slice(0, second);
  const signature = Buffer.from(token.slice(second + 1));
  for (const { id, secret } of keys) {
    const expected = Buffer.from(createHmac('sha256', secret).update(signingInput).digest('base64url'));
    if (expected.length === signature.length && timingSafeEqual(expected, signature)) return { id, payload: token.slice(first + 1, second) };
  }
  return undefined;
}

// jose imports a Uint8Array secret into a CryptoKey on every call, which costs
// more than the verification itself (bench/limiters.mjs). The key is imported once per
// secret instead; jose checks it exactly as it checks its own import (HMAC,
// SHA-256, usage "verify"). A failed import is not remembered.
function hmacKey(secret: Uint8Array): () => Promise<CryptoKey> {
  let key: Promise<CryptoKey> | undefined;
  return () => {
    if (key === undefined) {
      // TextEncoder output (lib/config) is always backed by a plain ArrayBuffer.
      const raw = secret as Uint8Array<ArrayBuffer>;
      const pending = crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
      pending.catch(() => {
        if (key === pending) key = undefined;
      });
      key = pending;
    }
    return key;
  };
}
