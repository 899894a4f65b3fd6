import { isTlsOrLoopback } from './hosts';
import { DEFAULT_JWKS_ALGORITHMS, JWKS_ALGORITHMS, type envSchema } from './schema';
import type { z } from 'zod';

/**
 * The direct-API authentication settings: HS256 secrets (with rotation) and
 * asymmetric JWTs verified against an identity provider's JWKS. Cross-variable
 * rules live here; each failure names the variable, never its value.
 */

type ParsedEnv = z.output<typeof envSchema>;
type Fail = (name: string, why: string) => never;

/** Which configured secret verified a token; logged, the secret never is. */
export type JwtKeyId = 'current' | 'previous';

export interface JwtConfig {
  /** The current secret first, then the previous one while a rotation is under way. */
  readonly secrets: ReadonlyArray<{ readonly id: JwtKeyId; readonly key: Uint8Array }>;
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
  readonly maxAgeSeconds: number;
  readonly clockToleranceSeconds: number;
}

export interface JwksConfig {
  readonly url: string;
  /** Allowed JWS algorithms (asymmetric only). */
  readonly algorithms: readonly string[];
  readonly issuer: string;
  readonly audience: string;
  readonly maxAgeSeconds: number;
  readonly clockToleranceSeconds: number;
  /** Deadline of one JWKS fetch. */
  readonly timeoutMs: number;
  /** Least time between two JWKS fetches, whatever clients send. */
  readonly cooldownMs: number;
  /** How long a fetched key set is used before it is fetched again. */
  readonly cacheMaxAgeMs: number;
}

export function jwtConfig(e: ParsedEnv, fail: Fail): JwtConfig | undefined {
  if (e.JWT_SECRET_PREVIOUS !== undefined) {
    if (e.JWT_SECRET === undefined) fail('JWT_SECRET_PREVIOUS', 'needs JWT_SECRET (the current secret)');
    if (e.JWT_SECRET_PREVIOUS === e.JWT_SECRET) fail('JWT_SECRET_PREVIOUS', 'must differ from JWT_SECRET');
  }
  if (e.JWT_SECRET === undefined) return undefined;
  const encode = (v: string) => new TextEncoder().encode(v);
  return {
    secrets: [
      { id: 'current', key: encode(e.JWT_SECRET) },
      ...(e.JWT_SECRET_PREVIOUS === undefined ? [] : [{ id: 'previous' as const, key: encode(e.JWT_SECRET_PREVIOUS) }]),
    ],
    issuer: e.JWT_ISSUER,
    audience: e.JWT_AUDIENCE,
    maxAgeSeconds: e.JWT_MAX_AGE_SECONDS,
    clockToleranceSeconds: e.JWT_CLOCK_TOLERANCE_SECONDS,
  };
}

export function jwksConfig(e: ParsedEnv, isProduction: boolean, fail: Fail): JwksConfig | undefined {
  if (e.JWT_JWKS_URL === undefined) {
    if (e.JWT_ALGORITHMS !== undefined) fail('JWT_ALGORITHMS', 'applies only with JWT_JWKS_URL');
    return undefined;
  }
  const algorithms = e.JWT_ALGORITHMS === undefined ? DEFAULT_JWKS_ALGORITHMS : e.JWT_ALGORITHMS.split(',').map((s) => s.trim()).filter(Boolean);
  if (algorithms.length === 0) fail('JWT_ALGORITHMS', 'must list at least one algorithm');
  for (const alg of algorithms) {
    if (/^none$/i.test(alg)) fail('JWT_ALGORITHMS', 'must never allow "none"');
    // RFC 8725 §3.1: a public key must never be usable as an HMAC secret.
    if (/^HS/i.test(alg)) fail('JWT_ALGORITHMS', 'must not allow HS* with a JWKS (use JWT_SECRET for HS256)');
    if (!(JWKS_ALGORITHMS as readonly string[]).includes(alg)) fail('JWT_ALGORITHMS', `entries must be among ${JWKS_ALGORITHMS.join(', ')}`);
  }
  // A key set fetched in cleartext can be swapped for the attacker's keys.
  if (isProduction && !isTlsOrLoopback(e.JWT_JWKS_URL)) fail('JWT_JWKS_URL', 'must use https:// in production (loopback excepted)');
  // An identity provider signs tokens for every app it serves: without both
  // checks a token minted for another app would be accepted (RFC 8725 §3.8, §3.9).
  if (e.JWT_ISSUER === undefined) fail('JWT_ISSUER', 'must be set with JWT_JWKS_URL');
  if (e.JWT_AUDIENCE === undefined) fail('JWT_AUDIENCE', 'must be set with JWT_JWKS_URL');
  if (e.JWT_JWKS_CACHE_SECONDS < e.JWT_JWKS_COOLDOWN_SECONDS) fail('JWT_JWKS_CACHE_SECONDS', 'must be at least JWT_JWKS_COOLDOWN_SECONDS');
  return {
    url: e.JWT_JWKS_URL,
    algorithms: [...new Set(algorithms)],
    issuer: e.JWT_ISSUER!,
    audience: e.JWT_AUDIENCE!,
    maxAgeSeconds: e.JWT_MAX_AGE_SECONDS,
    clockToleranceSeconds: e.JWT_CLOCK_TOLERANCE_SECONDS,
    timeoutMs: e.JWT_JWKS_TIMEOUT_MS,
    cooldownMs: e.JWT_JWKS_COOLDOWN_SECONDS * 1000,
    cacheMaxAgeMs: e.JWT_JWKS_CACHE_SECONDS * 1000,
  };
}
