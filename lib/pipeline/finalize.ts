import { applyCorsHeaders } from '../origin';
import { rateLimitHeaders } from '../http/rate-limit-headers';
import { applySecurityHeaders } from '../http/security-headers';
import type { RateLimitResult } from '../limits/store';

/** What the finaliser needs to know about the request it answers. */
export interface FinalizeInput {
  readonly traceId: string;
  readonly production: boolean;
  /** The request's `Origin`; a listed one gets the CORS grant. */
  readonly origin: string | null;
  readonly allowedOrigins: ReadonlySet<string>;
  readonly limits?: readonly RateLimitResult[];
  readonly now?: number;
}

/**
 * The one place that adds the response headers every API answer carries:
 * rate-limit headers (where a limiter ran and the answer did not set its own),
 * the CORS grant for a listed origin or else `Vary: Origin`, the security
 * headers and `X-Trace-Id`. Guards, routes, the preflight answer and the
 * front door's refusals all pass through it.
 */
export function finalize(response: Response, input: FinalizeInput): Response {
  const headers = response.headers;
  if (input.limits && input.limits.length > 0) {
    rateLimitHeaders(input.limits, input.now ?? Date.now()).forEach((value, name) => {
      if (!headers.has(name)) headers.set(name, value);
    });
  }
  if (input.origin !== null && input.allowedOrigins.has(input.origin)) {
    if (!headers.has('Access-Control-Allow-Origin')) applyCorsHeaders(headers, input.origin);
  } else if (!/(^|,)\s*origin\s*(,|$)/i.test(headers.get('Vary') ?? '')) {
    headers.append('Vary', 'Origin');
  }
  applySecurityHeaders(headers, input.production);
  headers.set('X-Trace-Id', input.traceId);
  return response;
}
