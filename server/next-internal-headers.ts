/**
 * Request headers that Next.js 15.5 (the pinned `next`, see package.json) uses to
 * talk to itself, so a client must never be able to send them.
 *
 * Built from Next's own source in node_modules/next/dist:
 * - server/lib/server-ipc/utils.js `INTERNAL_HEADERS`: what Next itself strips in its
 *   router server. It misses `x-middleware-prefetch`, which base-server.js honours
 *   from the request: a client sending it gets `200 {}` and the route never runs.
 * - client/components/app-router-headers.js: the RSC/flight headers (`rsc`,
 *   `next-action`, `next-router-state-tree`, `next-router-prefetch`,
 *   `next-router-segment-prefetch`, `next-hmr-refresh`, `next-url`) and the
 *   `x-nextjs-*` ones.
 * - lib/constants.js: `x-prerender-revalidate*`, `x-next-*` cache tags, `next-resume`.
 * - every `headers['x-…']` / `headers.get('x-…')` read in server/ (`x-now-route-matches`,
 *   `x-matched-path`, `x-action-forwarded`, `x-invocation-id`, `x-middleware-*`, …).
 * tests/unit/next-internal-headers.test.ts greps the installed Next for these names and
 * fails when a Next upgrade reads one that this list does not cover.
 *
 * Whole families are matched by prefix, so a new member of a family is covered
 * before anyone notices it exists.
 */

/** Prefixes of Next-internal request headers; stripped on every path. */
export const NEXT_INTERNAL_HEADER_PREFIXES: readonly string[] = [
  'x-middleware-', // rewrite, next, skip, prefetch, override-headers, request-*, set-cookie, subrequest
  'x-nextjs-', // data, matched-path, rewrite, redirect, postponed, prerender, cache
  'x-next-', // cache tags, revalidate tag token, resume state length
  'x-invoke-', // path, query, status, error (earlier 13/14 releases; cheap to keep)
  'x-now-', // route-matches
  'x-action-', // forwarded, redirect, revalidated
  'x-prerender-', // revalidate, revalidate-if-generated
  'x-vercel-', // protection-bypass (revalidation), cache
  'next-', // next-resume, next-test-*, and the flight headers below (API paths)
];

/** Single Next-internal request headers outside the families above; stripped on every path. */
export const NEXT_INTERNAL_HEADER_NAMES: readonly string[] = ['x-matched-path', 'x-invocation-id'];

/**
 * Headers Next's own browser runtime sends for page navigations and Server Actions
 * (`FLIGHT_HEADERS`, `ACTION_HEADER`, `NEXT_URL` in
 * client/components/app-router-headers.js). Kept on pages, where navigation needs
 * them; stripped under `/api`, where they only change how Next treats a route.
 */
export const NEXT_FLIGHT_HEADERS: readonly string[] = [
  'rsc',
  'next-router-state-tree',
  'next-router-prefetch',
  'next-router-segment-prefetch',
  'next-hmr-refresh',
  'next-url',
  'next-action',
];

/**
 * Names that look like Next's but are passed through on purpose, with the reason.
 * The unit test accepts a Next header name only if it is stripped or listed here.
 */
export const REVIEWED_PASS_THROUGH: Readonly<Record<string, string>> = {
  'x-forwarded-for': 'the door appends the socket peer; lib/client-ip.ts reads it from the right',
  'x-forwarded-host': 'set by a trusted proxy; the door removes it when TRUSTED_PROXY_HOPS=0',
  'x-forwarded-proto': 'set by a trusted proxy; the door removes it when TRUSTED_PROXY_HOPS=0',
  'x-forwarded-port': 'set by a trusted proxy; the door removes it when TRUSTED_PROXY_HOPS=0',
  'x-deployment-id': "sent by Next's browser runtime for skew protection; the 15.5 server never reads it",
};

const FLIGHT = new Set(NEXT_FLIGHT_HEADERS);
const NAMES = new Set(NEXT_INTERNAL_HEADER_NAMES);

/**
 * Whether the door removes request header `name` (lower case).
 * @param api the request path is under `/api`
 */
export function isNextInternalHeader(name: string, api: boolean): boolean {
  if (name === 'rsc') return api;
  if (!name.startsWith('x-') && !name.startsWith('next-')) return false;
  if (NAMES.has(name)) return true;
  if (FLIGHT.has(name)) return api;
  for (const prefix of NEXT_INTERNAL_HEADER_PREFIXES) if (name.startsWith(prefix)) return true;
  return false;
}
