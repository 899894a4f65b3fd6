import { describe, expect, it } from 'vitest';
import { ERRORS, errorResponse, type ErrorCode } from '@/lib/errors';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

/** The documented code → status table (SECURITY.md "Errors"). */
const DOCUMENTED: Record<ErrorCode, number> = {
  method_not_allowed: 405,
  unsupported_media_type: 415,
  body_too_large: 413,
  origin_not_allowed: 403,
  rate_limited: 429,
  service_unavailable: 503,
  auth_missing: 401,
  auth_invalid: 401,
  auth_malformed: 400,
  auth_scheme_unsupported: 401,
  auth_unavailable: 503,
  body_invalid: 400,
  json_invalid: 400,
  upstream_error: 502,
  upstream_auth: 502,
  upstream_rejected: 502,
  upstream_timeout: 504,
  upstream_rate_limited: 503,
  geo_blocked: 403,
  denied: 403,
  anomaly_cooloff: 429,
  issuance_paused: 503,
  upstream_quota_cooloff: 503,
  not_found: 404,
  internal_error: 500,
  sdp_invalid: 400,
  call_limit_reached: 429,
  minutes_exhausted: 429,
  bad_request: 400,
  permanent_redirect: 308,
  request_timeout: 408,
  headers_too_large: 431,
  too_many_connections: 503,
};

describe('the error table', () => {
  it('holds exactly the documented codes', () => {
    expect(Object.keys(ERRORS).sort()).toEqual(Object.keys(DOCUMENTED).sort());
  });

  it.each(Object.entries(DOCUMENTED) as Array<[ErrorCode, number]>)('%s → %i', async (code, status) => {
    const res = errorResponse(code, TRACE);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await res.json();
    expect(body).toEqual({ error: code, message: ERRORS[code].message, traceId: TRACE });
  });

  it.each(Object.entries(ERRORS))('%s has a short, generic message with no secrets or internals', (_code, { message }) => {
    expect(message.length).toBeGreaterThan(5);
    expect(message.length).toBeLessThan(120);
    for (const leak of [
      /sk-|ek_|eyJ|Bearer [A-Za-z0-9]/,
      /OPENAI_API_KEY|JWT_SECRET|CLERK_|REDIS_URL|ALLOWED_ORIGINS/,
      /\bat .+:\d+:\d+/, // stack frames
      /https?:\/\//,
      /127\.0\.0\.1|localhost/,
      /Error:/,
    ]) {
      expect(message).not.toMatch(leak);
    }
  });

  it('messages are constant strings, not templates', () => {
    for (const { message } of Object.values(ERRORS)) expect(message).not.toMatch(/\$\{|%s|\{\w+\}/);
  });
});

describe('errorResponse', () => {
  it('adds issues for body_invalid, names and rules only', async () => {
    const issues = [{ field: 'voice', message: 'must be one of: alloy, echo' }];
    const body = await errorResponse('body_invalid', TRACE, { issues }).json();
    expect(body).toEqual({ error: 'body_invalid', message: ERRORS.body_invalid.message, traceId: TRACE, issues });
  });

  it('omits issues when none are given', async () => {
    const body = await errorResponse('json_invalid', TRACE).json();
    expect('issues' in body).toBe(false);
  });

  it('passes extra headers through (Retry-After, WWW-Authenticate, Allow)', () => {
    const res = errorResponse('rate_limited', TRACE, { headers: { 'Retry-After': '12' } });
    expect(res.headers.get('Retry-After')).toBe('12');
    const auth = errorResponse('auth_invalid', TRACE, { headers: { 'WWW-Authenticate': 'Bearer realm="realtime-token"' } });
    expect(auth.headers.get('WWW-Authenticate')).toBe('Bearer realm="realtime-token"');
  });

  it('the body has exactly the documented keys', async () => {
    for (const code of Object.keys(ERRORS) as ErrorCode[]) {
      const body = await errorResponse(code, TRACE).json();
      expect(Object.keys(body).sort()).toEqual(['error', 'message', 'traceId']);
    }
  });

  it('hostile issue text stays inside a JSON string (no HTML context)', async () => {
    const res = errorResponse('body_invalid', TRACE, { issues: [{ field: '(body)', message: '</script><script>alert(1)</script>' }] });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(await res.text()).issues[0].message).toBe('</script><script>alert(1)</script>');
  });
});
