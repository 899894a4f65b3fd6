import { verifyToken } from '@clerk/nextjs/server';
import type { AppConfig } from '../config';
import { planClaim } from '../plans';
import { describeError } from './describe';
import type { Verified } from './types';

type ClerkOptions = Parameters<typeof verifyToken>[1];

/**
 * Clerk session tokens, verified with Clerk's own verifier. The options are
 * built once per process: `authorizedParties` from the allowed origins (the
 * token's `azp` must be one), and `jwtKey`, without which every call would
 * fetch Clerk's JWKS.
 */
export function createClerkVerifier(config: AppConfig): ((token: string) => Promise<Verified>) | undefined {
  const clerk = config.clerk;
  if (clerk === undefined) return undefined;
  const options: ClerkOptions = {
    jwtKey: clerk.jwtKey,
    secretKey: clerk.secretKey,
    authorizedParties: [...config.allowedOrigins],
    clockSkewInMs: 5_000,
  };
  return async (token) => {
    try {
      const claims = await verifyToken(token, options);
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
      return { ok: false, code: 'auth_invalid', reason: `clerk: ${describeError(error)}` };
    }
  };
}
