import type { AppConfig } from './config';
import { createClerkVerifier } from './auth/clerk';
import { extractCredential } from './auth/credential';
import { readJoseHeader } from './auth/header';
import { createHs256Verifier } from './auth/hs256';
import { createJwksVerifier, type JwksVerifierOptions } from './auth/jwks';
import type { AuthResult } from './auth/types';

export type { AuthFailure, AuthFailureCode, AuthMethod, AuthResult, Identity } from './auth/types';
export { extractCredential, type Credential, type CredentialSource } from './auth/credential';

/**
 * Authentication: a Clerk session first, then a direct-API JWT: HS256 with
 * `JWT_SECRET` (and `JWT_SECRET_PREVIOUS` while rotating), or an identity
 * provider's token verified against `JWT_JWKS_URL`. Every credential is
 * verified here, from the request itself: nothing that middleware (or an
 * attacker) put into request headers is trusted.
 */

export type Authenticator = (headers: Headers) => Promise<AuthResult>;

/** Whether any authentication method is configured (none → the service is unavailable). */
export function authConfigured(config: AppConfig): boolean {
  return config.clerk !== undefined || config.jwt !== undefined || config.jwks !== undefined;
}

/**
 * Builds the authenticator for one configuration. Everything per process is
 * made here once: Clerk's options (`authorizedParties`), the imported HMAC
 * keys, the remote key set with its cache and cooldown.
 * @param options.jwks the JWKS fetch and clock (tests; default global fetch, `Date.now`)
 */
export function createAuthenticator(config: AppConfig, options: { jwks?: JwksVerifierOptions } = {}): Authenticator {
  const clerk = createClerkVerifier(config);
  const hs256 = createHs256Verifier(config.jwt);
  const jwks = createJwksVerifier(config.jwks, options.jwks);
  const jwksAlgorithms = new Set(config.jwks?.algorithms ?? []);

  return async (headers) => {
    const credential = extractCredential(headers);
    if (credential.kind === 'none') return { ok: false, code: 'auth_missing', reason: 'no credentials' };
    if (credential.kind === 'malformed') return { ok: false, code: 'auth_malformed', reason: credential.reason };
    if (credential.kind === 'unsupported') {
      return { ok: false, code: 'auth_scheme_unsupported', reason: `authorization scheme ${credential.scheme} is not supported` };
    }
    const { token, source } = credential;
    const read = readJoseHeader(token);
    if (!read.ok) return { ok: false, code: 'auth_invalid', reason: `${source} credential refused: ${read.reason}` };

    const reasons: string[] = [];
    if (clerk) {
      const result = await clerk(token);
      if (result.ok) return result;
      reasons.push(result.reason);
    }
    // The direct-API methods take the Authorization header only, never the cookie.
    if (source === 'authorization') {
      // The header's alg picks the verifier; each verifier still enforces its own allowlist.
      const result =
        jwks && jwksAlgorithms.has(read.header.alg) ? await jwks(token, read.header) : hs256 ? await hs256(token, read.header) : undefined;
      if (result?.ok || result?.code === 'auth_unavailable') return result;
      reasons.push(result ? result.reason : `jwt: alg ${read.header.alg.slice(0, 16)} is not accepted`);
    }
    return { ok: false, code: 'auth_invalid', reason: reasons.join('; ') || 'no authentication method accepted the token' };
  };
}
