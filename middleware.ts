import { clerkMiddleware } from '@clerk/nextjs/server';
import { NextResponse, type NextFetchEvent, type NextRequest } from 'next/server';
import { getConfig, type AppConfig } from '@/lib/config';
import { errorResponse } from '@/lib/errors';
import { applyCorsHeaders, checkPreflight } from '@/lib/origin';
import { clerkFrontendApiHost, pageCsp } from '@/lib/page-csp';
import { applySecurityHeaders } from '@/lib/security-headers';
import { getSecurityLogger, traceIdFrom } from '@/lib/security-logger';

/**
 * CORS and request tagging for every API call (and pages, for Clerk).
 *
 * - A CORS preflight is answered here, before any authentication work;
 *   a refused preflight carries no CORS grant, so the browser blocks the call.
 * - Allowed cross-origin answers get the CORS headers; all get `Vary: Origin`.
 * - Clerk's middleware runs only when Clerk is configured, with `jwtKey` and
 *   `authorizedParties` passed explicitly (it does not read CLERK_JWT_KEY).
 * - It is never the only auth check: the route verifies credentials itself.
 */

export const config = {
  matcher: ['/api/:path*', '/((?!_next/static|_next/image|favicon.ico).*)'],
  runtime: 'nodejs',
};

type Handler = (req: NextRequest, event: NextFetchEvent) => Promise<Response | undefined | null | void> | Response | undefined | null | void;
let withClerk: Handler | undefined;

export default async function middleware(req: NextRequest, event: NextFetchEvent) {
  const traceId = traceIdFrom(req.headers.get('traceparent'));
  let cfg: AppConfig;
  try {
    cfg = getConfig();
  } catch {
    const res = errorResponse('service_unavailable', traceId);
    applySecurityHeaders(res.headers, false);
    res.headers.set('X-Trace-Id', traceId);
    return res;
  }
  if (isPreflight(req)) return preflight(req, cfg, traceId);
  if (!cfg.clerk) return tag(req, cfg, traceId);
  // No `secretKey` option: Clerk reads CLERK_SECRET_KEY itself, and an explicit one
  // is propagated to the route in a header that requires CLERK_ENCRYPTION_KEY, else
  // every request fails with encryption_key_missing (tests/e2e/clerk.test.ts).
  // Built once per process: the handler must derive everything per request from
  // `request` (a captured trace id would tag every request with the first one's).
  withClerk ??= clerkMiddleware(async (_auth, request) => tag(request, cfg, traceIdFrom(request.headers.get('traceparent'))), {
    publishableKey: cfg.clerk.publishableKey,
    jwtKey: cfg.clerk.jwtKey,
    authorizedParties: [...cfg.allowedOrigins],
  }) as Handler;
  return withClerk(req, event);
}

function isPreflight(req: NextRequest): boolean {
  return req.method === 'OPTIONS' && req.headers.has('origin') && req.headers.has('access-control-request-method');
}

/** Answers a CORS preflight: 204 with the grant, or 403 with no CORS headers at all. */
function preflight(req: NextRequest, cfg: AppConfig, traceId: string): Response {
  const result = checkPreflight(req.headers, cfg.allowedOrigins);
  let res: Response;
  if (result.ok) {
    res = new Response(null, { status: 204, headers: result.grant });
  } else {
    getSecurityLogger().log('warn', 'origin_validation_failed', 'CORS preflight refused', {
      traceId,
      origin: req.headers.get('origin'),
      userAgent: req.headers.get('user-agent'),
      endpoint: req.nextUrl.pathname,
      method: req.method,
    }, { reason: result.reason });
    res = errorResponse('origin_not_allowed', traceId);
    res.headers.set('Vary', 'Origin');
  }
  applySecurityHeaders(res.headers, cfg.isProduction);
  res.headers.set('X-Trace-Id', traceId);
  return res;
}

/** Lets the request through with its trace id, CORS grant (when allowed) and security headers. */
function tag(req: NextRequest, cfg: AppConfig, traceId: string): NextResponse {
  const forwarded = new Headers(req.headers);
  // Only the middleware may set this: a client-sent value is replaced.
  forwarded.set('x-trace-id', traceId);
  const res = NextResponse.next({ request: { headers: forwarded } });
  res.headers.set('X-Trace-Id', traceId);
  if (req.nextUrl.pathname.startsWith('/api/')) {
    const origin = req.headers.get('origin');
    if (origin !== null && cfg.allowedOrigins.has(origin)) applyCorsHeaders(res.headers, origin);
    else res.headers.set('Vary', 'Origin');
    applySecurityHeaders(res.headers, cfg.isProduction);
  } else if (cfg.clerk) {
    // Pages with Clerk on: Clerk's script and API come from its Frontend API host.
    res.headers.set('Content-Security-Policy', clerkPageCsp(cfg.clerk.publishableKey));
  }
  return res;
}

const clerkCsp = new Map<string, string>();
function clerkPageCsp(publishableKey: string): string {
  let csp = clerkCsp.get(publishableKey);
  if (csp === undefined) {
    csp = pageCsp(clerkFrontendApiHost(publishableKey));
    clerkCsp.set(publishableKey, csp);
  }
  return csp;
}
