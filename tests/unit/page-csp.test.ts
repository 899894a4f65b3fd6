import { describe, expect, it } from 'vitest';
import { clerkFrontendApiHost, pageCsp } from '@/lib/page-csp';

const pk = (text: string, env = 'test') => `pk_${env}_${Buffer.from(text).toString('base64')}`;

describe('clerkFrontendApiHost', () => {
  it.each([
    ['a dev instance key', pk('example.clerk.accounts.dev$'), 'example.clerk.accounts.dev'],
    ['a live key', pk('clerk.voice.example.com$', 'live'), 'clerk.voice.example.com'],
  ])('decodes %s', (_label, key, host) => {
    expect(clerkFrontendApiHost(key)).toBe(host);
  });

  it.each([
    ['no $ terminator', pk('example.clerk.accounts.dev')],
    ['a CSP injection attempt', pk("evil.com; script-src *$")],
    ['a wildcard host', pk('*.evil.com$')],
    ['a secret key', `sk_test_${Buffer.from('example.clerk.accounts.dev$').toString('base64')}`],
    ['garbage', 'pk_test_!!!'],
  ])('refuses %s', (_label, key) => {
    expect(clerkFrontendApiHost(key)).toBeUndefined();
  });
});

describe('pageCsp', () => {
  it('without Clerk: the app and the OpenAI origin only', () => {
    const csp = pageCsp();
    expect(csp).toContain("connect-src 'self' https://api.openai.com;");
    expect(csp).toContain("script-src 'self' 'unsafe-inline';");
    expect(csp).toContain("frame-src 'none'");
    expect(csp).not.toContain('clerk');
  });

  it("with Clerk: adds exactly Clerk's documented origins", () => {
    const csp = pageCsp('example.clerk.accounts.dev');
    expect(csp).toContain("script-src 'self' 'unsafe-inline' https://example.clerk.accounts.dev https://challenges.cloudflare.com;");
    expect(csp).toContain("connect-src 'self' https://api.openai.com https://example.clerk.accounts.dev;");
    expect(csp).toContain("img-src 'self' data: https://img.clerk.com;");
    expect(csp).toContain('frame-src https://challenges.cloudflare.com;');
    expect(csp).toContain("frame-ancestors 'none'");
  });
});
