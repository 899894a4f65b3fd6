import { verifyToken } from '@clerk/nextjs/server';
import { errors as joseErrors, jwtVerify } from 'jose';
import type { AppConfig } from './config';
import { planClaim } from './plans';

/**
 * Authentication: a Clerk session first, then a `jose` HS256 JWT for direct
 * API access. Both are verified here, in the route, from the request itself:
 * nothing that middleware (or an attacker) put into request headers is trusted.
 */

export type Identity = {
  /** `clerk:<sub>` or `jwt:<sub>`, so the two id spaces cannot collide. */
  readonly userId: string;
  readonly method: 'clerk' | 'jwt';
  readonly sessionId?: string;
  /** The plan a verified claim names (lib/plans.ts); undefined: the defaults. */
  readonly plan?: string;
};

export type AuthFailureCode = 'auth_missing' | 'auth_invalid' | 'auth_malformed';

export type AuthResult =
  | { readonly ok: true; readonly identity: Identity }
  | { readonly ok: false; readonly code: AuthFailureCode; readonly reason: string };

// RFC 6750 §2.1: "Bearer" 1*SP b64token. A JWT is three base64url segments.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const MAX_TOKEN_LENGTH = 8192;

/** Where the credential came from; reported in logs, never the credential itself. */
export type CredentialSource = 'authorization' | 'cookie';

/**
 * Extracts the credential: the `Authorization: Bearer` header, else Clerk's
 * `__session` cookie. Query-string tokens are never read (they leak into logs,
 * history and Referer headers).
 */
export function extractCredential(
  headers: Headers,
):
  | { kind: 'none' }
  | { kind: 'malformed'; reason: string }
  | { kind: 'token'; token: string; source: CredentialSource } {
  const header = headers.get('authorization');
  if (header !== null) {
    const match = BEARER.exec(header.trim());
    if (!match) return { kind: 'malformed', reason: 'authorization header is not "Bearer <token>"' };
    if (match[1].length > MAX_TOKEN_LENGTH) return { kind: 'malformed', reason: 'bearer token too long' };
    return { kind: 'token', token: match[1], source: 'authorization' };
  }
  const session = readCookie(headers.get('cookie'), '__session');
  if (session !== undefined && session.length <= MAX_TOKEN_LENGTH) {
    return { kind: 'token', token: session, source: 'cookie' };
  }
  return { kind: 'none' };
}

function readCookie(cookieHeader: string | null, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** Whether any authentication method is configured (none → the service is unavailable). */
export function authConfigured(config: AppConfig): boolean {
  return config.clerk !== undefined || config.jwt !== undefined;
}

/**
 * Authenticates a request. Clerk is tried first when configured (networkless
 * with `CLERK_JWT_KEY`), then the HS256 fallback when `JWT_SECRET` is set.
 */
export async function authenticate(headers: Headers, config: AppConfig): Promise<AuthResult> {
  const credential = extractCredential(headers);
  if (credential.kind === 'none') return { ok: false, code: 'auth_missing', reason: 'no credentials' };
  if (credential.kind === 'malformed') return { ok: false, code: 'auth_malformed', reason: credential.reason };
  if (!JWT_SHAPE.test(credential.token)) {
    return { ok: false, code: 'auth_invalid', reason: `${credential.source} credential is not a JWT` };
  }

  let reason = 'no authentication method accepted the token';
  if (config.clerk) {
    const clerk = await verifyClerk(credential.token, config);
    if (clerk.ok) return clerk;
    reason = clerk.reason;
  }
  // The HS256 fallback is for direct API access: it takes the header only.
  if (config.jwt && credential.source === 'authorization') {
    const jwt = await verifyJwt(credential.token, config.jwt);
    if (jwt.ok) return jwt;
    reason = config.clerk ? `${reason}; ${jwt.reason}` : jwt.reason;
  }
  return { ok: false, code: 'auth_invalid', reason };
}

async function verifyClerk(token: string, config: AppConfig): Promise<AuthResult> {
  const clerk = config.clerk!;
  try {
    // jwtKey must be passed explicitly: without it every call fetches JWKS.
    const claims = await verifyToken(token, {
      jwtKey: clerk.jwtKey,
      secretKey: clerk.secretKey,
      authorizedParties: [...config.allowedOrigins],
      clockSkewInMs: 5_000,
    });
    if (typeof claims.sub !== 'string' || claims.sub === '') {
      return { ok: false, code: 'auth_invalid', reason: 'clerk: token has no subject' };
    }
    return {
      ok: true,
      identity: {
        userId: `clerk:${claims.sub}`,
        method: 'clerk',
        sessionId: typeof claims.sid === 'string' ? claims.sid : undefined,
        plan: planClaim(claims, config.plans.claim),
      },
    };
  } catch (error) {
    return { ok: false, code: 'auth_invalid', reason: `clerk: ${describe(error)}` };
  }
}

// jose imports a Uint8Array secret into a CryptoKey on every call, which costs
// more than the verification itself (bench/limiters.mjs). The key is imported
// once per secret instead; jose checks it exactly as it checks its own import
// (HMAC, SHA-256, usage "verify").
const hmacKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>();

function hmacKey(secret: Uint8Array): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (key === undefined) {
    // TextEncoder output (config.ts) is always backed by a plain ArrayBuffer.
    const raw = secret as Uint8Array<ArrayBuffer>;
    key = crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    // A failed import is not remembered: the next request tries again.
    key.catch(() => hmacKeys.delete(secret));
    hmacKeys.set(secret, key);
  }
  return key;
}

async function verifyJwt(token: string, jwt: NonNullable<AppConfig['jwt']>): Promise<AuthResult> {
  try {
    const { payload } = await jwtVerify(token, await hmacKey(jwt.secret), {
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'iat', 'sub'],
      issuer: jwt.issuer,
      audience: jwt.audience,
      clockTolerance: jwt.clockToleranceSeconds,
      maxTokenAge: jwt.maxAgeSeconds,
    });
    if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 256) {
      return { ok: false, code: 'auth_invalid', reason: 'jwt: subject must be a non-empty string' };
    }
    return { ok: true, identity: { userId: `jwt:${payload.sub}`, method: 'jwt', plan: planClaim(payload) } };
  } catch (error) {
    return { ok: false, code: 'auth_invalid', reason: `jwt: ${describe(error)}` };
  }
}

/** A short, secret-free reason: jose's stable error code or Clerk's reason. */
function describe(error: unknown): string {
  if (error instanceof joseErrors.JOSEError) return error.code;
  if (error && typeof error === 'object' && 'reason' in error && typeof error.reason === 'string') return error.reason;
  return error instanceof Error ? error.name : 'verification failed';
}
