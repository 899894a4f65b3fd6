import type { NextConfig } from 'next';
import { pageCsp } from './lib/page-csp';
import { PERMISSIONS_DENY_ALL, SPEC_SECURITY_HEADERS } from './lib/security-headers';

// Page headers live here; API headers are set per response by the route and
// middleware from the runtime configuration. With Clerk configured the
// middleware replaces the page CSP with one that allows Clerk's origins.
const PAGE_CSP = pageCsp();

const nextConfig: NextConfig = {
  poweredByHeader: false,
  // Middleware otherwise sees 127.0.0.1/[::1] rewritten to "localhost" in request.url;
  // Clerk's middleware rewrites to that URL, which Next then takes for another origin
  // and proxies to itself, so every request with Clerk on fails when the server listens
  // on a loopback address (HOST=127.0.0.1 behind a proxy). tests/e2e/clerk.test.ts.
  skipMiddlewareUrlNormalize: true,
  // The front door (server/front-door.ts) answers slash redirects itself, in the
  // API shape and always to a same-origin relative Location.
  skipTrailingSlashRedirect: true,
  reactStrictMode: true,
  async headers() {
    return [
      {
        source: '/:path*',
        headers: [
          ...Object.entries(SPEC_SECURITY_HEADERS).map(([key, value]) => ({ key, value })),
          { key: 'Content-Security-Policy', value: PAGE_CSP },
          { key: 'Permissions-Policy', value: PERMISSIONS_DENY_ALL.replace('microphone=()', 'microphone=(self)') },
          { key: 'Cross-Origin-Opener-Policy', value: 'same-origin' },
        ],
      },
    ];
  },
};

export default nextConfig;
