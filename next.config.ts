import type { NextConfig } from 'next';
import { PERMISSIONS_DENY_ALL, SPEC_SECURITY_HEADERS } from './lib/security-headers';

// Page headers are static, so they can live here; API headers are set per
// response by the route and middleware from the runtime configuration.
const PAGE_CSP = [
  "default-src 'self'",
  // Next's App Router bootstraps with inline scripts; there is no user HTML on the page.
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self' https://api.openai.com",
  "media-src 'self' blob:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
].join('; ');

const nextConfig: NextConfig = {
  poweredByHeader: false,
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
