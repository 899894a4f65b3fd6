import { expect } from 'vitest';

/**
 * The expected-headers tables every layer of tests checks answers against
 * (route handlers in process, the production server, the fuzzer). Helmet's
 * convention: a string must match exactly, a RegExp must match, `null` means
 * the header must be absent. Header names are case-insensitive.
 */
export type HeaderTable = Record<string, string | RegExp | null>;

/** The headers the spec requires on every answer, page or API. */
export const SPEC_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'X-XSS-Protection': '1; mode=block',
  'Referrer-Policy': 'strict-origin-when-cross-origin',
  'Cache-Control': 'no-store, no-cache, must-revalidate',
} as const satisfies HeaderTable;

/** Strict-Transport-Security in production. */
export const HSTS = 'max-age=63072000; includeSubDomains';

/** A trace id as the server writes it. */
export const TRACE_ID = /^[0-9a-f]{32}$/;

/** Every API answer (any environment): the spec's headers plus the API's own. */
export const API_HEADERS: HeaderTable = {
  ...SPEC_HEADERS,
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': /^accelerometer=\(\), camera=\(\),.*microphone=\(\)/,
  'X-Powered-By': null,
};

/** An API answer with its trace id. */
export const SECURITY_HEADERS: HeaderTable = { ...API_HEADERS, 'X-Trace-Id': TRACE_ID };

/** The HTML page. */
export const PAGE_HEADERS: HeaderTable = { ...SPEC_HEADERS, 'X-Powered-By': null };

/** Rate-limit headers present (a limiter ran). */
export const RATE_LIMIT_PRESENT: HeaderTable = {
  'X-RateLimit-Limit': /^\d+$/,
  'X-RateLimit-Remaining': /^\d+$/,
  'X-RateLimit-Reset': /^\d{10}$/,
  'RateLimit-Policy': /^"\w+";q=\d+;w=\d+(, "\w+";q=\d+;w=\d+)*$/,
  RateLimit: /^"\w+";r=\d+;t=\d+(, "\w+";r=\d+;t=\d+)*$/,
};

/** Rate-limit headers absent (no limiter ran). */
export const RATE_LIMIT_ABSENT: HeaderTable = {
  'X-RateLimit-Limit': null,
  'X-RateLimit-Remaining': null,
  'X-RateLimit-Reset': null,
  'RateLimit-Policy': null,
  RateLimit: null,
  'Retry-After': null,
};

/** Asserts every row of `table` on an answer's headers; `label` prefixes the failure messages. */
export function expectHeaders(source: Headers | Response, table: HeaderTable, label = ''): void {
  const headers = source instanceof Response ? source.headers : source;
  for (const [name, expected] of Object.entries(table)) {
    const actual = headers.get(name);
    const where = `${label} ${name}`.trim();
    if (expected === null) expect(actual, `${where} must be absent`).toBeNull();
    else if (expected instanceof RegExp) expect(actual, where).toMatch(expected);
    else expect(actual, where).toBe(expected);
  }
}
