/** The outcome types of authentication (lib/auth.ts and its verifiers in lib/auth/). */

export type AuthMethod = 'clerk' | 'jwt' | 'jwks';

export type Identity = {
  /** `clerk:<sub>`, `jwt:<sub>` or `jwks:<sub>`, so the id spaces cannot collide. */
  readonly userId: string;
  readonly method: AuthMethod;
  readonly sessionId?: string;
  /** Which key verified the token: `current`/`previous` (JWT_SECRET*) or the JWKS `kid`; never key material. */
  readonly keyId?: string;
  /** The plan a verified claim names (lib/plans.ts); undefined: the defaults. */
  readonly plan?: string;
};

export type AuthFailureCode = 'auth_missing' | 'auth_invalid' | 'auth_malformed' | 'auth_scheme_unsupported' | 'auth_unavailable';

export type AuthFailure = {
  readonly ok: false;
  readonly code: AuthFailureCode;
  /** Secret-free, for logs. */
  readonly reason: string;
  /** `auth_unavailable` only: true for the first failure of an outage (log it once). */
  readonly report?: boolean;
};

export type AuthResult = { readonly ok: true; readonly identity: Identity } | AuthFailure;

/** A verifier's answer for one token. */
export type Verified = AuthResult;
