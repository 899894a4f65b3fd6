import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type FetchImplementation, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { readCapped } from '../body';
import type { JwksConfig } from '../config';
import { planClaim } from '../plans';
import { describeError } from './describe';
import type { JoseHeader } from './header';
import type { Verified } from './types';

/**
 * Asymmetric JWTs from an identity provider, verified against its JWKS with
 * jose's remote key set (timeout, cooldown, cache).
 *
 * jose's cooldown only counts from the last *successful* fetch: while the
 * JWKS is unreachable every request would start a new fetch. The fetch jose
 * is given here therefore refuses, without touching the network, when the
 * previous attempt (failed or not) is less than one cooldown old, so no
 * client can make the server fetch more often than that, whatever it sends
 * in `kid`. It also caps the body (jose reads it whole) and checks it is a
 * JWK set, so every way the key set can be unusable is seen in one place:
 * that is a 503 (the server cannot verify anyone), not a 401, and the first
 * failure of an outage is reported once.
 */

const MAX_JWKS_BYTES = 64 * 1024;

/** The key set cannot be used: unreachable, slow, not 200, not a JWK set, or cooling down after that. */
class KeySetUnavailable extends Error {
  override readonly name = 'KeySetUnavailable';
}

export interface JwksVerifierOptions {
  /** The fetch used for the key set (default: global fetch). */
  readonly fetch?: typeof fetch;
  /** Clock for the fetch cooldown (default `Date.now`; jose's own cache uses `Date.now`). */
  readonly now?: () => number;
}

export type JwksVerifier = (token: string, header: JoseHeader) => Promise<Verified>;

export function createJwksVerifier(jwks: JwksConfig | undefined, options: JwksVerifierOptions = {}): JwksVerifier | undefined {
  if (jwks === undefined) return undefined;
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? Date.now;
  let lastAttemptAt = Number.NEGATIVE_INFINITY;
  let down = false;
  let unreported = false;
  const failed = () => {
    if (!down) unreported = true;
    down = true;
  };

  const gatedFetch: FetchImplementation = async (url, init) => {
    const at = now();
    if (at - lastAttemptAt < jwks.cooldownMs) throw new KeySetUnavailable('previous fetch less than one cooldown ago');
    lastAttemptAt = at;
    try {
      const response = await doFetch(url, init);
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => {});
        throw new KeySetUnavailable(`status ${response.status}`);
      }
      const text = new TextDecoder('utf-8', { fatal: true }).decode(await readCapped(response.body, MAX_JWKS_BYTES));
      if (!isKeySet(JSON.parse(text))) throw new KeySetUnavailable('not a JWK set');
      down = false;
      return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (error) {
      failed();
      if (error instanceof KeySetUnavailable) throw error;
      throw new KeySetUnavailable(init.signal.aborted ? `no answer within ${jwks.timeoutMs} ms` : `fetch failed: ${describeError(error)}`);
    }
  };

  const keySet = createRemoteJWKSet(new URL(jwks.url), {
    timeoutDuration: jwks.timeoutMs,
    cooldownDuration: jwks.cooldownMs,
    cacheMaxAge: jwks.cacheMaxAgeMs,
    [customFetch]: gatedFetch,
  });
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await keySet(header, token);
    } catch (error) {
      // A private or broken key in the published set: the set is unusable.
      if (error instanceof joseErrors.JWKSInvalid) {
        failed();
        throw new KeySetUnavailable('JWK set holds an unusable key');
      }
      throw error;
    }
  };

  const allowed = new Set(jwks.algorithms);
  const verifyOptions: JWTVerifyOptions = {
    algorithms: [...allowed],
    requiredClaims: ['exp', 'iat', 'sub', 'iss', 'aud'],
    issuer: jwks.issuer,
    audience: jwks.audience,
    clockTolerance: jwks.clockToleranceSeconds,
    maxTokenAge: jwks.maxAgeSeconds,
  };

  return async (token, header) => {
    if (!allowed.has(header.alg)) return { ok: false, code: 'auth_invalid', reason: 'jwks: alg not allowed' };
    try {
      const { payload } = await jwtVerify(token, getKey, verifyOptions);
      if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 256) {
        return { ok: false, code: 'auth_invalid', reason: 'jwks: subject must be a non-empty string' };
      }
      return { ok: true, identity: { userId: `jwks:${payload.sub}`, method: 'jwks', keyId: header.kid ?? '(no kid)', plan: planClaim(payload) } };
    } catch (error) {
      if (error instanceof KeySetUnavailable) {
        const report = unreported;
        unreported = false;
        return { ok: false, code: 'auth_unavailable', reason: `jwks: ${error.message}`, report };
      }
      return { ok: false, code: 'auth_invalid', reason: `jwks: ${describeError(error)}` };
    }
  };
}

function isKeySet(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const keys = (value as { keys?: unknown }).keys;
  return Array.isArray(keys) && keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k));
}
