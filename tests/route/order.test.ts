import { beforeEach, describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { signJwt } from '../support/tokens';
import { ALLOWED_ORIGIN, call, sequential, tokenRequest, routeHarness, type RequestOptions } from './helpers';

/**
 * The order of checks (lib/routes/token.ts, SECURITY.md "Request flow"): cheap,
 * credential-free checks first; credentials are verified only after origin
 * and rate limits; the body is validated only for an authenticated user;
 * nothing reaches OpenAI unless every step passed.
 */

const h = routeHarness();

const events = () => h.entries().map((e) => e.event);
const authEvents = () => events().filter((e) => e === 'auth_success' || e === 'auth_failure');

describe('pairs of defects: the earlier step answers', () => {
  const big = `{"instructions":"${'a'.repeat(17_000)}"}`;
  const cases: Array<[label: string, options: () => Promise<RequestOptions>, status: number, code: string]> = [
    ['415 before 413', async () => ({ contentType: 'text/plain', body: big }), 415, 'unsupported_media_type'],
    ['415 before origin', async () => ({ contentType: 'text/plain', origin: 'https://evil.example' }), 415, 'unsupported_media_type'],
    ['413 before origin', async () => ({ body: big, origin: 'https://evil.example' }), 413, 'body_too_large'],
    ['origin before auth (valid token)', async () => ({ origin: 'https://evil.example' }), 403, 'origin_not_allowed'],
    ['origin before auth (forged token)', async () => ({ origin: 'https://evil.example', token: 'forged.jwt.value' }), 403, 'origin_not_allowed'],
    ['origin before a malformed Authorization header', async () => ({ origin: 'null', token: null, headers: { authorization: 'Basic x' } }), 403, 'origin_not_allowed'],
    ['auth before body validation (missing)', async () => ({ token: null, body: { voice: 'nope' } }), 401, 'auth_missing'],
    ['auth before body validation (invalid token, bad JSON)', async () => ({ token: 'bad.token.value', body: '{oops' }), 401, 'auth_invalid'],
    ['auth before body validation (expired token, unknown field)', async () => ({
      token: await signJwt({}, { expiresIn: Math.floor(Date.now() / 1000) - 10, issuedAt: Math.floor(Date.now() / 1000) - 60 }),
      body: { hack: true },
    }), 401, 'auth_invalid'],
    ['malformed Authorization before body validation', async () => ({ token: null, headers: { authorization: 'Bearer a b' }, body: [] }), 400, 'auth_malformed'],
  ];

  it.each(cases)('%s', async (_label, options, status, code) => {
    const res = await call(POST, tokenRequest(await options()));
    expect(res.status).toBe(status);
    expect(res.body?.error).toBe(code);
    expect(h.upstream.requests).toHaveLength(0);
    // Shape refusals log one input_validation_failed and nothing after it; later steps must not run.
    if (status === 413 || status === 415) expect(events()).toEqual(['input_validation_failed']);
    else expect(events()).not.toContain('input_validation_failed');
    if (status !== 401 && code !== 'auth_malformed') expect(authEvents()).toEqual([]);
  });
});

describe('a bad origin is refused before any token is verified', () => {
  const tokens: Array<[label: string, token: () => Promise<string | null>]> = [
    ['valid token', () => signJwt()],
    ['forged token', async () => 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.'],
    ['no token', async () => null],
  ];

  it.each(tokens)('%s: 403, no auth log line, no auth-failure count, no upstream call', async (_label, token) => {
    const res = await call(POST, tokenRequest({ origin: 'https://evil.example', token: await token() }));
    expect(res.status).toBe(403);
    expect(events()).toEqual(['origin_validation_failed']);
    expect(h.upstream.requests).toHaveLength(0);
    // No auth-failure was counted: the IP still has its full 20 (peek shows it).
    const auth = await h.rt.runtime.store.peek('203.0.113.7', h.rt.runtime.config.rateLimits.authFailures);
    expect(auth.remaining).toBe(20);
  });
});

describe('rate limits come before authentication', () => {
  beforeEach(() => {
    h.configure({ RATE_LIMIT_API: '2/60' });
  });

  it('an IP over the API limit gets 429 whatever its credentials, and they are not verified', async () => {
    await sequential(2, () => call(POST, tokenRequest()));
    const before = h.entries().length;
    for (const token of [await signJwt(), 'bad.token.value', null]) {
      const res = await call(POST, tokenRequest({ token }));
      expect(res.status, String(token)).toBe(429);
    }
    const after = h.entries().slice(before).map((e) => e.event);
    expect(after.every((e) => e === 'rate_limit_exceeded' || e === 'suspicious_activity')).toBe(true);
    expect(h.upstream.requests).toHaveLength(2);
  });

  it('the token limit is checked before the body: a user over quota gets 429 for a bad body', async () => {
    h.configure({ RATE_LIMIT_TOKEN: '1/60' });
    const token = await signJwt();
    expect((await call(POST, tokenRequest({ token }))).status).toBe(200);
    const res = await call(POST, tokenRequest({ token, body: '{broken' }));
    expect(res.status).toBe(429);
    expect(events()).not.toContain('input_validation_failed');
  });
});

describe('the configuration check comes before credentials are verified', () => {
  it('no server key: 503 for a forged token, with no auth log and no auth-failure count', async () => {
    h.configure({ OPENAI_API_KEY: undefined });
    const res = await call(POST, tokenRequest({ token: 'bad.token.value' }));
    expect(res.status).toBe(503);
    expect(authEvents()).toEqual([]);
    expect(h.upstream.requests).toHaveLength(0);
  });
});

describe('peeling the onion: each fixed defect exposes the next step', () => {
  it('415 → 413 → 403 → 429 api → 429 auth → 401 → 429 token → 400 → 200, upstream reached only at the end', async () => {
    h.configure({ RATE_LIMIT_API: '30/60', RATE_LIMIT_TOKEN: '3/60' });
    const ip = { apiSpent: '198.51.100.10', authBlocked: '198.51.100.20', clean: '198.51.100.30', prep: '198.51.100.40' };

    // Arrange: one IP over the API limit, one over the auth-failure limit, one user over the token limit.
    await sequential(30, () => call(POST, tokenRequest({ forwardedFor: ip.apiSpent, token: null })));
    await sequential(20, () => call(POST, tokenRequest({ forwardedFor: ip.authBlocked, token: 'bad.token.value' })));
    const spentUser = await signJwt({}, { subject: 'spent' });
    await sequential(3, () => call(POST, tokenRequest({ forwardedFor: ip.prep, token: spentUser })));
    h.upstream.requests.length = 0;

    const request: RequestOptions = {
      contentType: 'text/plain',
      body: `{"voice":"${'x'.repeat(17_000)}"}`,
      origin: 'https://evil.example',
      forwardedFor: ip.apiSpent,
      token: 'bad.token.value',
    };
    const steps: Array<[fix: string, change: RequestOptions, status: number, code: string, policy?: string]> = [
      ['nothing', {}, 415, 'unsupported_media_type'],
      ['content type', { contentType: 'application/json' }, 413, 'body_too_large'],
      ['size', { body: { voice: 'x' } }, 403, 'origin_not_allowed'],
      ['origin', { origin: ALLOWED_ORIGIN }, 429, 'rate_limited', '30'],
      ['API-limited IP', { forwardedFor: ip.authBlocked }, 429, 'rate_limited', '20'],
      ['auth-blocked IP', { forwardedFor: ip.clean }, 401, 'auth_invalid'],
      ['credentials', { token: spentUser }, 429, 'rate_limited', '3'],
      ['user over quota', { token: await signJwt({}, { subject: 'fresh' }) }, 400, 'body_invalid'],
      ['body', { body: { voice: 'echo' } }, 200, ''],
    ];
    for (const [fix, change, status, code, limit] of steps) {
      Object.assign(request, change);
      const res = await call(POST, tokenRequest(request));
      expect(res.status, `after fixing ${fix}`).toBe(status);
      if (code) expect(res.body?.error, `after fixing ${fix}`).toBe(code);
      if (limit) expect(res.headers.get('X-RateLimit-Limit'), `after fixing ${fix}`).toBe(limit);
      expect(h.upstream.requests, `after fixing ${fix}`).toHaveLength(status === 200 ? 1 : 0);
    }
  });
});
