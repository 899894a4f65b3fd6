import { exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';

/** A random 32-byte (64 hex chars) secret, as JWT_SECRET expects. */
export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

/** Signs an HS256 token the way a direct API client would. */
export async function signJwt(
  claims: JWTPayload = {},
  options: { secret?: string; subject?: string; expiresIn?: string | number; issuedAt?: number; alg?: string } = {},
): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(options.subject ?? 'user-1')
    .setIssuedAt(options.issuedAt)
    .setExpirationTime(options.expiresIn ?? '5m');
  return jwt.sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}

/** Base64url without padding. */
export function b64url(value: string | Uint8Array): string {
  return Buffer.from(value).toString('base64url');
}

/** An unsigned token (`alg: none`), the classic bypass attempt. */
export function unsignedJwt(payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'none', typ: 'JWT' }): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.`;
}

export interface ClerkTestKeys {
  /** Goes into CLERK_JWT_KEY. */
  readonly publicKeyPem: string;
  readonly secretKey: string;
  readonly publishableKey: string;
  readonly kid: string;
  /** Signs a Clerk-shaped RS256 session token. */
  sign(options?: { sub?: string; azp?: string; expiresIn?: number; notBefore?: number; kid?: string; header?: Record<string, unknown>; claims?: Record<string, unknown> }): Promise<string>;
}

/**
 * A generated RS256 key pair and fake Clerk keys: Clerk's own verifier runs
 * for real, offline, against tokens signed here (SECURITY.md "Authentication").
 */
export async function createClerkTestKeys(): Promise<ClerkTestKeys> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const publicKeyPem = await exportSPKI(publicKey);
  const kid = 'ins_test_key';
  return {
    publicKeyPem,
    secretKey: 'sk_test_' + 'x'.repeat(40),
    publishableKey: 'pk_test_' + Buffer.from('example.clerk.accounts.dev$').toString('base64'),
    kid,
    async sign(options = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ ...options.claims, sid: 'sess_test123', azp: options.azp ?? 'http://localhost:3000' })
        .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? kid, typ: 'JWT', ...options.header })
        .setSubject(options.sub ?? 'user_clerk1')
        .setIssuer('https://example.clerk.accounts.dev')
        .setIssuedAt(now)
        .setNotBefore(options.notBefore ?? now - 10)
        .setExpirationTime(now + (options.expiresIn ?? 60))
        // jose refuses to sign an unknown crit unless told to (RFC 7515 §4.1.11 tests need one).
        .sign(privateKey, Array.isArray(options.header?.crit) ? { crit: Object.fromEntries(options.header.crit.map((c: string) => [c, true])) } : undefined);
    },
  };
}
