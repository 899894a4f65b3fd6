import { authenticate } from '../auth';
import { noteFailure } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/**
 * Authentication: Clerk session first, HS256 JWT fallback (lib/auth.ts).
 * A failure counts towards the IP's auth-failure limit and towards
 * suspicious activity; the catalog adds the RFC 6750 challenge.
 */
export const authenticateGuard: GuardFactory = (config) => {
  const failures = config.rateLimits.authFailures;
  return {
    name: 'authenticate',
    refuses: ['auth_missing', 'auth_invalid', 'auth_malformed'],
    async run(ctx) {
      const result = await authenticate(ctx.req.headers, config);
      if (result.ok) {
        ctx.identity = result.identity;
        ctx.fields.userId = result.identity.userId;
        ctx.log('info', 'auth_success', `Authenticated via ${result.identity.method}`, { method: result.identity.method });
        return undefined;
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
