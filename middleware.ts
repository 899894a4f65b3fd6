import { clerkMiddleware } from '@clerk/nextjs/server';
import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server';
import type { AppConfig } from '@/lib/config';
import { DEV_BUILD } from '@/lib/config/build';
import { errorResponse } from '@/lib/errors';
import { checkPreflight } from '@/lib/origin';
import { clerkFrontendApiHost, pageCsp } from '@/lib/page-csp';
import { finalize } from '@/lib/pipeline/finalize';
import { getRuntime, type Runtime } from '@/lib/runtime';
import { traceIdFrom } from '@/lib/security-logger';

/**
 * The middleware runs only where it is needed:
 *
 * - CORS preflights on /api (the `has` condition on
 *   `access-control-request-method`): answered here, before any auth work; a
 *   refused preflight carries no CORS grant, so the browser blocks the call.
 * - Pages, for Clerk's handshake when Clerk is configured.
 *
 * API requests with bodies never pass through it, so Next never copies their
 * bodies for it, and their answers (CORS grant, trace id, security headers)
 * come from the route's finaliser. It is never the only auth check: the
 * route verifies credentials itself.
 */
export const config = {
  matcher: [
    { source: '/api/:path*', has: [{ type: 'header', key: 'access-control-request-method' }] },
    '/((?!api/|api$|_next/static|_next/image|favicon.ico).*)',
  ],
  runtime: 'nodejs',
};

type Handler = (req: NextRequest, event: NextFetchEvent) => Promise<Response | undefined | null | void> | Response | undefined | null | void;
// Clerk's handler and the page CSP, built once per configuration.
const built = new WeakMap<AppConfig, { clerk: Handler; csp: string }>();

export default async function middleware(req: NextRequest, event: NextFetchEvent) {
  const traceId = traceIdFrom(req.headers.get('traceparent'));
  let rt: Runtime;
  try {
    rt = getRuntime();
  } catch {
    return finalize(errorResponse('service_unavailable', traceId), { traceId, production: false, origin: null, allowedOrigins: new Set() });
  }
  if (req.nextUrl.pathname === '/api' || req.nextUrl.pathname.startsWith('/api/')) return preflight(req, rt, traceId);
  const cfg = rt.config;
  if (!cfg.clerk) return traced(NextResponse.next(), traceId);
  let parts = built.get(cfg);
  if (parts === undefined) {
    // No `secretKey` option: Clerk reads CLERK_SECRET_KEY itself, and an explicit one
    // is propagated in a header that requires CLERK_ENCRYPTION_KEY, else every
    // request fails with encryption_key_missing (tests/e2e/clerk.test.ts).
    const csp = pageCsp(clerkFrontendApiHost(cfg.clerk.publishableKey), DEV_BUILD);
    const clerk = clerkMiddleware(async () => withoutInternals(NextResponse.next(), csp), {
      publishableKey: cfg.clerk.publishableKey,
      jwtKey: cfg.clerk.jwtKey,
      authorizedParties: [...cfg.allowedOrigins],
    }) as Handler;
    parts = { clerk, csp };
    built.set(cfg, parts);
  }
  const answer = await parts.clerk(req, event);
  return answer instanceof Response ? traced(withoutInternals(answer, parts.csp), traceId) : answer;
}

/** Pages carry the request's trace id too, so a page error can be quoted. */
function traced(res: Response, traceId: string): Response {
  res.headers.set('X-Trace-Id', traceId);
  return res;
}

/** Answers a CORS preflight: 204 with the grant, or 403 with no CORS headers at all. */
function preflight(req: NextRequest, rt: Runtime, traceId: string): Response {
  const cfg = rt.config;
  const result = checkPreflight(req.headers, cfg.allowedOrigins);
  const fields = { traceId, origin: req.headers.get('origin'), userAgent: req.headers.get('user-agent'), endpoint: req.nextUrl.pathname, method: req.method };
  if (!result.ok) rt.logger.log('warn', 'origin_validation_failed', 'CORS preflight refused', fields, { reason: result.reason });
  const res = result.ok ? new Response(null, { status: 204, headers: result.grant }) : errorResponse('origin_not_allowed', traceId);
  // A refused preflight must carry no grant: the finaliser sees no listed origin.
  return finalize(res, { traceId, production: cfg.isProduction, origin: result.ok ? fields.origin : null, allowedOrigins: cfg.allowedOrigins });
}

// Clerk's debug headers name the verification failure ("Invalid JWT algorithm…").
// Next's own x-middleware-* instructions must stay (Next acts on them); the front
// door removes whatever of them Next leaves on the answer (server/front-door.ts).
const CLERK_DEBUG = /^x-clerk-/i;

/** The page answer with Clerk's page CSP, minus Clerk's debug headers. */
function withoutInternals(res: Response, csp: string): Response {
  res.headers.set('Content-Security-Policy', csp);
  for (const name of [...res.headers.keys()]) if (CLERK_DEBUG.test(name)) res.headers.delete(name);
  return res;
}
