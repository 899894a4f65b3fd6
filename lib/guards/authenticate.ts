import { createAuthenticator } from '../auth';
import { errorResponse } from '../errors';
import { noteFailure } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/**
 * Authentication (lib/auth.ts): Clerk session first, then HS256 with the
 * current or previous secret, or an identity provider's JWT via its JWKS.
 * The authenticator is built once per configuration. A valid credential
 * gives back the unit the auth-failure guard reserved; a failure keeps it
 * and counts towards suspicious activity. The catalog adds the RFC 6750
 * challenge. An unusable JWKS is the server's problem, not the client's:
 * 503, the unit given back, nothing counted, logged `critical` once per
 * outage (the authenticator says which failure is the first).
 */
export const authenticateGuard: GuardFactory = (config) => {
  const authenticate = createAuthenticator(config);
  return {
    name: 'authenticate',
    refuses: ['auth_missing', 'auth_invalid', 'auth_malformed', 'auth_scheme_unsupported', 'auth_unavailable'],
    async run(ctx) {
      const result = await authenticate(ctx.req.headers);
      if (result.ok) {
        await ctx.authAttempt?.release();
        const { identity } = result;
        ctx.identity = identity;
        ctx.fields.userId = identity.userId;
        ctx.log('info', 'auth_success', `Authenticated via ${identity.method}`, {
          method: identity.method,
          ...(identity.keyId === undefined ? {} : { keyId: identity.keyId }),
        });
        return undefined;
      }
      if (result.code === 'auth_unavailable') {
        await ctx.authAttempt?.release();
        if (!result.report) return errorResponse('auth_unavailable', ctx.traceId);
        return refuse(ctx, 'auth_unavailable', { message: 'JWKS unavailable: JWT_JWKS_URL tokens cannot be verified', metadata: { reason: result.reason } });
      }
      const answer = refuse(ctx, result.code, {
        message: 'Authentication failed',
        metadata: { reason: result.reason, failuresRemaining: ctx.authAttempt?.remaining ?? 0 },
      });
      await noteFailure(ctx, result.code);
      return answer;
    },
  };
};
