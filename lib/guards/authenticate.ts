import { createAuthenticator } from '../auth';
import { errorResponse } from '../errors';
import { noteFailure } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/**
 * Authentication (lib/auth.ts): Clerk session first, then HS256 with the
 * current or previous secret, or an identity provider's JWT via its JWKS.
 * The authenticator is built once per configuration. A failure counts
 * towards the IP's auth-failure limit and towards suspicious activity; the
 * catalog adds the RFC 6750 challenge. An unreachable JWKS is the server's
 * problem, not the client's: 503, counted nowhere, logged `critical` once per
 * outage (the authenticator says which failure is the first).
 */
export const authenticateGuard: GuardFactory = (config) => {
  const failures = config.rateLimits.authFailures;
  const authenticate = createAuthenticator(config);
  return {
    name: 'authenticate',
    refuses: ['auth_missing', 'auth_invalid', 'auth_malformed', 'auth_scheme_unsupported', 'auth_unavailable'],
    async run(ctx) {
      const result = await authenticate(ctx.req.headers);
      if (result.ok) {
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
        if (!result.report) return errorResponse('auth_unavailable', ctx.traceId);
        return refuse(ctx, 'auth_unavailable', { message: 'JWKS unavailable: JWT_JWKS_URL tokens cannot be verified', metadata: { reason: result.reason } });
      }
      const counted = await ctx.rt.store.hit(ctx.ip, failures);
      const answer = refuse(ctx, result.code, {
        message: 'Authentication failed',
        metadata: { reason: result.reason, failuresRemaining: counted.remaining },
      });
      await noteFailure(ctx, result.code);
      return answer;
    },
  };
};
