import { checkHealth } from '@/lib/health';
import { getRuntime, type Runtime } from '@/lib/runtime';
import { applySecurityHeaders } from '@/lib/security-headers';

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

async function answer(): Promise<Response> {
  let rt: Runtime;
  try {
    rt = getRuntime();
  } catch {
    return respond({ status: 'unavailable' }, 503, false);
  }
  return respond(await checkHealth(rt), 200, rt.config.isProduction);
}

function respond(body: object, status: number, production: boolean): Response {
  const response = Response.json(body, { status });
  applySecurityHeaders(response.headers, production);
  return response;
}

export function GET(): Promise<Response> {
  return answer();
}

export async function HEAD(): Promise<Response> {
  const response = await answer();
  return new Response(null, { status: response.status, headers: response.headers });
}
