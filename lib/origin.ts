/**
 * Origin checks shared by the CORS middleware and the route. Matching is
 * exact against the configured set: no suffix, prefix, regex or case folding,
 * and the opaque origin `null` (sandboxed iframes, file:, data:) never matches.
 */

/**
 * Canonical form of an origin, or `undefined` when the text is not a bare
 * origin (paths, queries, credentials, wildcards and `null` are refused).
 */
export function normalizeOrigin(text: string): string | undefined {
  // Backslashes too: WHATWG URL reads "\" as "/" in http(s), so "https://a.com\p" would silently drop a path.
  if (!/^https?:\/\/[^/\\?#*@\s]+$/i.test(text)) return undefined;
  try {
    const url = new URL(text);
    return url.origin === 'null' ? undefined : url.origin;
  } catch {
    return undefined;
  }
}

export type OriginCheck =
  | { readonly ok: true; readonly origin: string | null }
  | { readonly ok: false; readonly reason: string };

/**
 * Decides whether a request may proceed on origin grounds.
 *
 * Browsers send `Origin` on every cross-origin request and on same-origin
 * POSTs, so a present header must be listed. A request without one comes from
 * a non-browser client (curl, a server) unless the browser's own
 * `Sec-Fetch-Site` says it is cross-site, which is refused too.
 */
export function checkOrigin(headers: Headers, allowed: ReadonlySet<string>): OriginCheck {
  const origin = headers.get('origin');
  if (origin === null) {
    const site = headers.get('sec-fetch-site');
    if (site === 'cross-site' || site === 'same-site') {
      return { ok: false, reason: `no Origin header on a ${site} browser request` };
    }
    return { ok: true, origin: null };
  }
  if (allowed.has(origin)) return { ok: true, origin };
  return { ok: false, reason: 'origin not in ALLOWED_ORIGINS' };
}

export const CORS_ALLOWED_METHODS = 'POST, OPTIONS';
export const CORS_ALLOWED_HEADERS = ['authorization', 'content-type', 'traceparent'];
const CORS_MAX_AGE_SECONDS = '600';
const EXPOSED = [
  'X-Trace-Id',
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'Retry-After',
  'RateLimit',
  'RateLimit-Policy',
].join(', ');

/**
 * CORS response headers for an allowed origin (mutates `headers`). Credentials
 * are allowed so a Clerk session cookie can be sent from a listed origin.
 */
export function applyCorsHeaders(headers: Headers, origin: string): Headers {
  headers.set('Access-Control-Allow-Origin', origin);
  headers.set('Access-Control-Allow-Credentials', 'true');
  headers.set('Access-Control-Expose-Headers', EXPOSED);
  headers.append('Vary', 'Origin');
  return headers;
}

/**
 * Validates a preflight: the origin must be listed, the method POST and every
 * requested header on the allowlist. Returns the headers to grant, or the
 * reason to refuse (a refused preflight carries no CORS grant at all).
 */
export function checkPreflight(
  headers: Headers,
  allowed: ReadonlySet<string>,
): { ok: true; grant: Headers } | { ok: false; reason: string } {
  const origin = headers.get('origin');
  if (origin === null || !allowed.has(origin)) return { ok: false, reason: 'origin not in ALLOWED_ORIGINS' };
  const method = (headers.get('access-control-request-method') ?? '').trim();
  if (method !== 'POST') return { ok: false, reason: 'preflight method not allowed' };
  const requested = (headers.get('access-control-request-headers') ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  if (!requested.every((h) => CORS_ALLOWED_HEADERS.includes(h))) {
    return { ok: false, reason: 'preflight header not allowed' };
  }
  const grant = applyCorsHeaders(new Headers(), origin);
  grant.set('Access-Control-Allow-Methods', CORS_ALLOWED_METHODS);
  grant.set('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS.join(', '));
  grant.set('Access-Control-Max-Age', CORS_MAX_AGE_SECONDS);
  return { ok: true, grant };
}
