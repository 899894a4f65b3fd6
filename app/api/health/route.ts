import { checkHealth } from '@/lib/health';
import { answerWith, methodNotAllowed, pipeline } from '@/lib/pipeline/run';

/**
 * GET /api/health — readiness: `{"status":"ok"|"degraded","limiter":"memory"|"redis"|"redis-degraded"}`.
 *
 * A degraded limiter still answers 200: the instance keeps serving and
 * limiting (per instance), and taking every instance out of rotation because
 * Redis is down would turn a limiter outage into a full one. Alert on
 * `status` or on the `rate_limit_store_degraded` log event instead.
 */
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const METHODS = 'GET, HEAD';

export const GET = pipeline([answerWith('health', async (ctx) => Response.json(await checkHealth(ctx.rt), { status: 200 }))], {
  unavailable: () => Response.json({ status: 'unavailable' }, { status: 503 }),
});

export async function HEAD(req: Request): Promise<Response> {
  const response = await GET(req);
  return new Response(null, { status: response.status, headers: response.headers });
}

const refuse = methodNotAllowed(METHODS);
export { refuse as DELETE, refuse as OPTIONS, refuse as PATCH, refuse as POST, refuse as PUT };
