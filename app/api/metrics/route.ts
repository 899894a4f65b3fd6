import { methodNotAllowed, pipeline } from '@/lib/pipeline/run';
import { METRICS_GUARDS, METRICS_METHODS, servesMetrics } from '@/lib/routes/metrics';

/**
 * GET /api/metrics — Prometheus text format, behind `Authorization: Bearer
 * <METRICS_TOKEN>` (lib/routes/metrics.ts). Without METRICS_TOKEN every
 * method answers the JSON 404 of an unknown path. README "Metrics and alerts".
 */
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const SERVED = { servedWhen: servesMetrics };

export const GET = pipeline(METRICS_GUARDS, SERVED);

export async function HEAD(req: Request): Promise<Response> {
  const response = await GET(req);
  return new Response(null, { status: response.status, headers: response.headers });
}

const refuse = methodNotAllowed(METRICS_METHODS, SERVED);
export { refuse as DELETE, refuse as OPTIONS, refuse as PATCH, refuse as POST, refuse as PUT };
