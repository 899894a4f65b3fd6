import { errors as joseErrors, jwtVerify, type JWTVerifyOptions } from 'jose';
import type { JwtConfig, JwtKeyId } from '../config';
import { describeError } from './describe';
import { planClaim } from '../plans';
import type { Verified } from './types';

/**
 * HS256 tokens for direct API access, with rotation: the current secret is
 * tried first, then the previous one (`JWT_SECRET_PREVIOUS`) while it is
 * configured. Only a signature mismatch moves on to the next secret; a token
 * whose signature matched but whose claims fail is refused there.
 */
export function createHs256Verifier(jwt: JwtConfig | undefined): ((token: string) => Promise<Verified>) | undefined {
  if (jwt === undefined) return undefined;
  const options: JWTVerifyOptions = {
    algorithms: ['HS256'],
    requiredClaims: ['exp', 'iat', 'sub'],
    issuer: jwt.issuer,
    audience: jwt.audience,
    clockTolerance: jwt.clockToleranceSeconds,
    maxTokenAge: jwt.maxAgeSeconds,
  };
  const keys = jwt.secrets.map((s) => ({ id: s.id, key: hmacKey(s.key) }));
  return async (token) => {
    let reason = 'jwt: no secret';
    for (const { id, key } of keys) {
      try {
        const { payload } = await jwtVerify(token, await key(), options);
        if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 256) {
          return { ok: false, code: 'auth_invalid', reason: 'jwt: subject must be a non-empty string' };
        }
        return { ok: true, identity: { userId: `jwt:${payload.sub}`, method: 'jwt', keyId: id satisfies JwtKeyId, plan: planClaim(payload) } };
      } catch (error) {
        reason = `jwt: ${describeError(error)}`;
        if (!(error instanceof joseErrors.JWSSignatureVerificationFailed)) break;
      }
    }
    return { ok: false, code: 'auth_invalid', reason };
  };
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
