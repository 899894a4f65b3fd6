import type { NextConfig } from 'next';
import { PHASE_DEVELOPMENT_SERVER } from 'next/constants';
import { pageCsp } from './lib/page-csp';
import { PERMISSIONS_DENY_ALL, SPEC_SECURITY_HEADERS } from './lib/http/security-headers';

/**
 * Page headers live here (Next bakes them into the build); every API answer
 * gets its headers from the route's finaliser (lib/pipeline/finalize.ts).
 * With Clerk configured the middleware replaces the page CSP with one that
 * allows Clerk's origins. Under the dev server the CSP also admits what Next's
 * dev runtime needs (lib/page-csp.ts).
 */
export default function config(phase: string): NextConfig {
  const dev = phase === PHASE_DEVELOPMENT_SERVER;
  return {
    poweredByHeader: false,
    // Middleware otherwise sees 127.0.0.1/[::1] rewritten to "localhost" in request.url;
    // Clerk's middleware rewrites to that URL, which Next then takes for another origin
    // and proxies to itself, so every page request with Clerk on fails when the server
    // listens on a loopback address. tests/e2e/clerk.test.ts.
    skipMiddlewareUrlNormalize: true,
    // The front door (server/front-door.ts) answers slash redirects itself, in the
    // API shape and always to a same-origin relative Location.
    skipTrailingSlashRedirect: true,
    reactStrictMode: true,
    // The call supervisor's sideband client (lib/calls/sideband.ts): bundled, ws loses its
    // optional native helpers and every masked client frame throws
    // (websockets/ws#2288); loaded from node_modules it falls back to its JavaScript masking.
    serverExternalPackages: ['ws'],
    async headers() {
      return [
        {
          // Pages only: Next's configured headers override a route's own, so API
          // answers must not match here.
          source: '/((?!api(?:/|$)).*)',
          headers: [
            ...Object.entries(SPEC_SECURITY_HEADERS).map(([key, value]) => ({ key, value })),
            { key: 'Content-Security-Policy', value: pageCsp(undefined, dev) },
            { key: 'Permissions-Policy', value: PERMISSIONS_DENY_ALL.replace('microphone=()', 'microphone=(self)') },
            { key: 'Cross-Origin-Opener-Policy', value: 'same-origin' },
          ],
        },
      ];
    },
  };
}
