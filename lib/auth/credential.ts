/**
 * Reads the credential from a request: the `Authorization: Bearer` header,
 * else Clerk's `__session` cookie. Query-string tokens are never read (they
 * leak into logs, history and Referer headers).
 */

/** Where the credential came from; reported in logs, never the credential itself. */
export type CredentialSource = 'authorization' | 'cookie';

export type Credential =
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed'; readonly reason: string }
  /** RFC 6750 §3.1: another scheme is a request without (Bearer) authentication: 401, no error code. */
  | { readonly kind: 'unsupported'; readonly scheme: string }
  | { readonly kind: 'token'; readonly token: string; readonly source: CredentialSource };

// RFC 6750 §2.1: "Bearer" 1*SP b64token.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
// RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]; auth-scheme = token.
const OTHER_SCHEME = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +[\s\S]*)?$/;
/** What a registered scheme name looks like (Basic, Digest, Negotiate, DPoP, AWS4-HMAC-SHA256). */
const SCHEME_NAME = /^[A-Za-z][A-Za-z0-9-]{0,19}$/;
export const MAX_TOKEN_LENGTH = 8192;

export function extractCredential(headers: Headers): Credential {
  const header = headers.get('authorization');
  if (header !== null) {
    const value = header.trim();
    // Anything that starts like Bearer is judged as Bearer: a broken one is a 400.
    if (/^bearer/i.test(value)) {
      const match = BEARER.exec(value);
      if (!match) return { kind: 'malformed', reason: 'authorization header is not "Bearer <token>"' };
      if (match[1].length > MAX_TOKEN_LENGTH) return { kind: 'malformed', reason: 'bearer token too long' };
      return { kind: 'token', token: match[1], source: 'authorization' };
    }
    const other = OTHER_SCHEME.exec(value);
    // The scheme is logged; a bare credential sent without one must not be.
    if (other) return { kind: 'unsupported', scheme: SCHEME_NAME.test(other[1]) ? other[1] : '(unnamed)' };
    return { kind: 'malformed', reason: 'authorization header is not "Bearer <token>"' };
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
