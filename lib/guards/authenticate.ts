import { authenticate } from '../auth';
import { noteFailure } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

/**
 * Authentication: Clerk session first, HS256 JWT fallback (lib/auth.ts).
 * A valid credential gives back the unit the auth-failure guard reserved; a
 * failure keeps it and counts towards suspicious activity. The catalog adds
 * the RFC 6750 challenge.
 */
export const authenticateGuard: GuardFactory = (config) => {
  return {
    name: 'authenticate',
    refuses: ['auth_missing', 'auth_invalid', 'auth_malformed'],
    async run(ctx) {
      const result = await authenticate(ctx.req.headers, config);
      if (result.ok) {
        await ctx.authAttempt?.release();
        ctx.identity = result.identity;
        ctx.fields.userId = result.identity.userId;
        ctx.log('info', 'auth_success', `Authenticated via ${result.identity.method}`, { method: result.identity.method });
        return undefined;
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
