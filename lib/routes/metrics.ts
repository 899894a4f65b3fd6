import { authFailureLimitGuard } from '../guards/auth-failure-limit';
import { frontDoorGuard } from '../guards/front-door';
import { metricsTokenGuard } from '../guards/metrics-token';
import type { AppConfig } from '../config';
import { answerWith } from '../pipeline/run';
import type { GuardFactory } from '../pipeline/guard';

/**
 * GET /api/metrics — Prometheus exposition of this instance's runtime
 * (lib/metrics.ts), in order; without METRICS_TOKEN the route is a plain 404.
 */
export const METRICS_GUARDS: readonly GuardFactory[] = [
  frontDoorGuard, //         503 not through the front door: the failure count below needs a trustworthy IP
  authFailureLimitGuard, //  429 no token check left for this IP (reserved before checking)
  metricsTokenGuard, //      401 missing or wrong Bearer token, compared in constant time
  answerWith('metrics', async (ctx) => {
    const { registry } = ctx.rt.metrics;
    return new Response(await ctx.rt.metrics.render(), { status: 200, headers: { 'Content-Type': registry.contentType } });
  }),
];

export const METRICS_METHODS = 'GET, HEAD';

/** The route exists only with a token: otherwise it answers like an unknown path. */
export const servesMetrics = (config: AppConfig): boolean => config.metrics.token !== undefined;
