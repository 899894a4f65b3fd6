/**
 * The Content-Security-Policy for pages. Without Clerk it allows the app
 * itself and the OpenAI Realtime origin only; with Clerk configured it also
 * allows the Clerk Frontend API host named by the publishable key, Clerk's
 * image host and its bot-protection challenge, as Clerk documents
 * (https://clerk.com/docs/security/clerk-csp).
 */

/** The Clerk Frontend API host encoded in a publishable key (`pk_<env>_<base64(host$)>`), if valid. */
export function clerkFrontendApiHost(publishableKey: string): string | undefined {
  const match = /^pk_(test|live)_([A-Za-z0-9+/=_-]+)$/.exec(publishableKey);
  if (!match) return undefined;
  const decoded = Buffer.from(match[2], 'base64').toString('utf8');
  if (!decoded.endsWith('$')) return undefined;
  const host = decoded.slice(0, -1);
  return /^[a-z0-9.-]+\.[a-z]{2,}$/i.test(host) ? host.toLowerCase() : undefined;
}

/**
 * Builds the page CSP; `clerkHost` adds Clerk's origins. `dev` (a development
 * build only) adds what Next's dev runtime needs: `eval` for its module
 * runtime and the hot-reload WebSocket; the production policy is unchanged.
 */
export function pageCsp(clerkHost?: string, dev = false): string {
  const clerk = clerkHost ? ` https://${clerkHost}` : '';
  const challenge = clerkHost ? ' https://challenges.cloudflare.com' : '';
  return [
    "default-src 'self'",
    // Next's App Router bootstraps with inline scripts; there is no user HTML on the page.
    `script-src 'self' 'unsafe-inline'${dev ? " 'unsafe-eval'" : ''}${clerk}${challenge}`,
    "style-src 'self' 'unsafe-inline'",
    `img-src 'self' data:${clerkHost ? ' https://img.clerk.com' : ''}`,
    `connect-src 'self'${dev ? ' ws: wss:' : ''} https://api.openai.com${clerk}`,
    "media-src 'self' blob:",
    `worker-src 'self'${clerkHost ? ' blob:' : ''}`,
    `frame-src ${clerkHost ? challenge.trim() : "'none'"}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
  ].join('; ');
}
