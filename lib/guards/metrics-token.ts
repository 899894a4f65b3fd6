import { createHash, timingSafeEqual } from 'node:crypto';
import { noteFailure } from '../pipeline/failures';
import type { GuardFactory } from '../pipeline/guard';
import { refuse } from '../pipeline/refuse';

const BEARER = /^Bearer ([\x21-\x7e]{1,1024})$/i; // RFC 9110 §11.1: the scheme is case-insensitive

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * The scrape credential of GET /api/metrics: `Authorization: Bearer
 * <METRICS_TOKEN>`. Both sides are hashed first so `timingSafeEqual` compares
 * equal-length buffers and the time taken says nothing about the token's
 * length or prefix. It runs after the auth-failure guard, like the token
 * route's authentication: a valid token gives the reserved unit back, a
 * wrong one keeps it and counts towards suspicious activity, so guessing is
 * bounded per IP (RATE_LIMIT_AUTH_FAILURES).
 */
export const metricsTokenGuard: GuardFactory = (config) => {
  const expected = config.metrics.token === undefined ? undefined : digest(config.metrics.token);
  return {
    name: 'metrics_token',
    refuses: ['auth_missing', 'auth_invalid'],
    async run(ctx) {
      const header = ctx.req.headers.get('authorization');
      if (header === null) return refuse(ctx, 'auth_missing', { message: 'Metrics scrape without a token' });
      const presented = BEARER.exec(header.trim())?.[1];
      if (expected !== undefined && presented !== undefined && timingSafeEqual(digest(presented), expected)) {
        await ctx.authAttempt?.release();
        return undefined;
      }
      const answer = refuse(ctx, 'auth_invalid', { message: 'Metrics scrape with a wrong token' });
      await noteFailure(ctx, 'metrics_token');
      return answer;
    },
  };
};
