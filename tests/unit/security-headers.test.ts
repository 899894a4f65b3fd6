import { describe, expect, it } from 'vitest';
import {
  applySecurityHeaders,
  HSTS_VALUE,
  PERMISSIONS_DENY_ALL,
  SPEC_SECURITY_HEADERS,
} from '@/lib/http/security-headers';

/** Expected API headers; `null` means the header must be absent (helmet's habit). */
const API_HEADERS: Record<string, string | null> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'X-XSS-Protection': '1; mode=block',
  'Referrer-Policy': 'strict-origin-when-cross-origin',
  'Cache-Control': 'no-store, no-cache, must-revalidate',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': PERMISSIONS_DENY_ALL,
  'X-Powered-By': null,
  Server: null,
};

describe('applySecurityHeaders', () => {
  it.each([
    ['development', false, null],
    ['production', true, 'max-age=63072000; includeSubDomains'],
  ])('%s: every header present or absent as required', (_label, production, hsts) => {
    const headers = applySecurityHeaders(new Headers(), production);
    for (const [name, value] of Object.entries({ ...API_HEADERS, 'Strict-Transport-Security': hsts })) {
      expect(headers.get(name), name).toBe(value);
    }
  });

  it('HSTS is sent only in production', () => {
    expect(applySecurityHeaders(new Headers(), false).has('Strict-Transport-Security')).toBe(false);
    expect(applySecurityHeaders(new Headers(), true).get('Strict-Transport-Security')).toBe(HSTS_VALUE);
  });

  it('removes X-Powered-By', () => {
    const headers = applySecurityHeaders(new Headers({ 'X-Powered-By': 'Next.js' }), true);
    expect(headers.has('X-Powered-By')).toBe(false);
  });

  it('overrides weaker values a handler may have set', () => {
    const headers = applySecurityHeaders(
      new Headers({
        'Cache-Control': 'public, max-age=3600',
        'X-Frame-Options': 'SAMEORIGIN',
        'Content-Security-Policy': "default-src *",
        'Referrer-Policy': 'unsafe-url',
      }),
      false,
    );
    expect(headers.get('Cache-Control')).toBe('no-store, no-cache, must-revalidate');
    expect(headers.get('X-Frame-Options')).toBe('DENY');
    expect(headers.get('Content-Security-Policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(headers.get('Referrer-Policy')).toBe('strict-origin-when-cross-origin');
  });

  it('keeps unrelated headers (content type, CORS, rate limits)', () => {
    const headers = applySecurityHeaders(
      new Headers({ 'Content-Type': 'application/json', 'X-RateLimit-Limit': '10', Vary: 'Origin' }),
      false,
    );
    expect(headers.get('Content-Type')).toBe('application/json');
    expect(headers.get('X-RateLimit-Limit')).toBe('10');
    expect(headers.get('Vary')).toBe('Origin');
  });

  it('returns the same Headers object it was given', () => {
    const headers = new Headers();
    expect(applySecurityHeaders(headers, false)).toBe(headers);
  });

  it('is idempotent', () => {
    const once = [...applySecurityHeaders(new Headers(), true).entries()];
    const twice = [...applySecurityHeaders(applySecurityHeaders(new Headers(), true), true).entries()];
    expect(twice).toEqual(once);
  });
});

describe('constants', () => {
  it("the spec's five headers, exactly", () => {
    expect(SPEC_SECURITY_HEADERS).toEqual({
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'X-XSS-Protection': '1; mode=block',
      'Referrer-Policy': 'strict-origin-when-cross-origin',
      'Cache-Control': 'no-store, no-cache, must-revalidate',
    });
    expect(Object.isFrozen(SPEC_SECURITY_HEADERS)).toBe(true);
  });

  it('the Permissions-Policy denies every listed feature, the microphone included', () => {
    const features = PERMISSIONS_DENY_ALL.split(', ');
    expect(features.length).toBeGreaterThanOrEqual(10);
    for (const feature of features) expect(feature).toMatch(/^[a-z-]+=\(\)$/);
    expect(features).toContain('microphone=()');
    expect(features).toContain('camera=()');
    expect(features).toContain('geolocation=()');
  });
});
