import { describe, expect, it } from 'vitest';
import { loadConfig } from '@/lib/config';
import { applyCorsHeaders, checkOrigin, checkPreflight, CORS_ALLOWED_HEADERS } from '@/lib/origin';

const allowed = loadConfig({
  NODE_ENV: 'production',
  ALLOWED_ORIGINS: 'https://app.example.com,http://localhost:3000',
}).allowedOrigins;

const headers = (init: Record<string, string>) => new Headers(init);

describe('checkOrigin: exact match only', () => {
  it.each(['https://app.example.com', 'http://localhost:3000'])('allows the listed origin %s', (origin) => {
    expect(checkOrigin(headers({ origin }), allowed)).toEqual({ ok: true, origin });
  });

  it.each([
    ['suffix attack', 'https://app.example.com.evil.com'],
    ['prefix attack', 'https://evil-app.example.com'],
    ['subdomain of listed', 'https://sub.app.example.com'],
    ['parent domain', 'https://example.com'],
    ['lookalike TLD', 'https://app.example.co'],
    ['opaque origin', 'null'],
    ['scheme swap', 'http://app.example.com'],
    ['scheme swap on loopback', 'https://localhost:3000'],
    ['port change', 'https://app.example.com:8443'],
    ['default port spelled out', 'https://app.example.com:443'],
    ['loopback port change', 'http://localhost:3001'],
    ['loopback without port', 'http://localhost'],
    ['127.0.0.1 for localhost', 'http://127.0.0.1:3000'],
    ['upper case', 'https://APP.EXAMPLE.COM'],
    ['upper case scheme', 'HTTPS://app.example.com'],
    ['trailing slash', 'https://app.example.com/'],
    ['path', 'https://app.example.com/callback'],
    ['userinfo', 'https://app.example.com@evil.com'],
    ['userinfo the other way', 'https://evil.com@app.example.com'],
    ['trailing dot', 'https://app.example.com.'],
    ['wildcard', '*'],
    ['two origins', 'https://app.example.com https://evil.com'],
    ['comma list', 'https://app.example.com,https://evil.com'],
    ['punycode lookalike', 'https://xn--pp-example-c3b.com'],
    ['empty', ''],
    ['file scheme', 'file://'],
    ['chrome extension', 'chrome-extension://abcdefghijklmnop'],
  ])('refuses %s: %j', (_label, origin) => {
    const result = checkOrigin(headers({ origin }), allowed);
    expect(result.ok).toBe(false);
  });

  it('the refusal reason does not echo the origin', () => {
    const result = checkOrigin(headers({ origin: 'https://CANARY-a1.evil.com' }), allowed);
    expect(JSON.stringify(result)).not.toContain('CANARY');
  });

  it('an empty allowlist refuses every browser origin', () => {
    expect(checkOrigin(headers({ origin: 'https://app.example.com' }), new Set()).ok).toBe(false);
  });
});

describe('checkOrigin: requests without Origin', () => {
  it.each([
    ['no fetch metadata (curl, servers)', {}],
    ['same-origin', { 'sec-fetch-site': 'same-origin' }],
    ['user-initiated navigation', { 'sec-fetch-site': 'none' }],
  ])('allowed: %s', (_label, init) => {
    expect(checkOrigin(headers(init), allowed)).toEqual({ ok: true, origin: null });
  });

  it.each([
    ['cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['same-site (a sibling subdomain)', { 'sec-fetch-site': 'same-site' }],
  ])('refused: a browser says the request is %s', (_label, init) => {
    expect(checkOrigin(headers(init), allowed).ok).toBe(false);
  });
});

describe('checkPreflight', () => {
  const preflight = (init: Record<string, string>) =>
    checkPreflight(headers({ origin: 'https://app.example.com', 'access-control-request-method': 'POST', ...init }), allowed);

  it('grants exactly the CORS headers for an allowed preflight', () => {
    const result = preflight({ 'access-control-request-headers': 'authorization, content-type' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(Object.fromEntries(result.grant.entries())).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type, traceparent',
      'access-control-max-age': '600',
      'access-control-expose-headers':
        'X-Trace-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, RateLimit, RateLimit-Policy',
      vary: 'Origin',
    });
  });

  it.each([
    ['no requested headers', {}],
    ['empty requested headers', { 'access-control-request-headers': '' }],
    ['mixed case and spacing', { 'access-control-request-headers': ' Authorization ,CONTENT-TYPE,traceparent ' }],
    ['each allowed header', { 'access-control-request-headers': CORS_ALLOWED_HEADERS.join(',') }],
  ])('allows %s', (_label, init) => {
    expect(preflight(init).ok).toBe(true);
  });

  it.each(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'post', 'POST, GET', '', 'CONNECT'])('refuses method %j', (method) => {
    const result = preflight({ 'access-control-request-method': method });
    expect(result).toEqual({ ok: false, reason: 'preflight method not allowed' });
    expect('grant' in result).toBe(false);
  });

  it.each([
    'x-api-key',
    'cookie',
    'x-forwarded-for',
    'x-trace-id',
    'authorization, x-custom',
    'content-type, x-clerk-auth-status',
    'authorization-x',
  ])('refuses requested headers %j', (requested) => {
    expect(preflight({ 'access-control-request-headers': requested })).toEqual({ ok: false, reason: 'preflight header not allowed' });
  });

  it.each([
    ['a suffix origin', 'https://app.example.com.evil.com'],
    ['null', 'null'],
    ['scheme swap', 'http://app.example.com'],
  ])('gives no grant to %s', (_label, origin) => {
    expect(preflight({ origin })).toEqual({ ok: false, reason: 'origin not in ALLOWED_ORIGINS' });
  });

  it('gives no grant without an Origin', () => {
    expect(checkPreflight(headers({ 'access-control-request-method': 'POST' }), allowed).ok).toBe(false);
  });
});

describe('applyCorsHeaders', () => {
  it('reflects only the given (already checked) origin and appends Vary', () => {
    const h = applyCorsHeaders(new Headers({ Vary: 'Accept-Encoding' }), 'https://app.example.com');
    expect(h.get('Access-Control-Allow-Origin')).toBe('https://app.example.com');
    expect(h.get('Access-Control-Allow-Credentials')).toBe('true');
    expect(h.get('Vary')).toBe('Accept-Encoding, Origin');
    expect(h.get('Access-Control-Allow-Origin')).not.toBe('*');
  });
});
