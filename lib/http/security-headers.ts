/**
 * Response headers for every API answer, built once at module load (helmet's
 * habit). The spec's five come first; the rest are what a JSON API that no
 * browser should render or frame needs in 2026.
 */

/** The spec's headers: present on every response, pages included. */
export const SPEC_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'X-XSS-Protection': '1; mode=block',
  'Referrer-Policy': 'strict-origin-when-cross-origin',
  'Cache-Control': 'no-store, no-cache, must-revalidate',
});

/** HSTS, sent only by production servers (it would pin localhost to https in development). */
export const HSTS_VALUE = 'max-age=63072000; includeSubDomains';

/** A Permissions-Policy that denies every powerful feature. */
export const PERMISSIONS_DENY_ALL =
  'accelerometer=(), camera=(), display-capture=(), fullscreen=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=()';

const API_HEADERS: ReadonlyArray<[string, string]> = Object.entries({
  ...SPEC_SECURITY_HEADERS,
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': PERMISSIONS_DENY_ALL,
});

/**
 * Sets the API security headers on `headers` (mutates and returns it).
 * @param production adds `Strict-Transport-Security` when true
 */
export function applySecurityHeaders(headers: Headers, production: boolean): Headers {
  for (const [name, value] of API_HEADERS) headers.set(name, value);
  if (production) headers.set('Strict-Transport-Security', HSTS_VALUE);
  headers.delete('X-Powered-By');
  return headers;
}
