import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import Home from '@/app/page';
import { ConfigError } from '@/lib/config';
import { HOSTILE_SUCCESS } from '../../scripts/mock-openai.mjs';
import { createIdpKey, deadUrl, IDP_AUDIENCE, IDP_ISSUER, startJwksServer, type IdpKey, type JwksServer } from '../support/jwks';
import { b64url, createClerkTestKeys, signJwt, type ClerkTestKeys } from '../support/tokens';
import { byStatus, call, headerText, routeHarness, sequential, tokenRequest, type Answer } from './helpers';

/**
 * Strict inputs at the route: other Authorization schemes, critical JOSE
 * headers, rotated secrets, identity-provider JWTs against a loopback JWKS,
 * duplicate JSON member names, voices the Realtime API rejects, upstream 200s
 * that are not ephemeral keys, and cleartext upstreams in production.
 */

const h = routeHarness();

let clerk: ClerkTestKeys;
let jwks: JwksServer;
let k1: IdpKey;
let k2: IdpKey;
let stranger: IdpKey;

beforeAll(async () => {
  [clerk, k1, k2, stranger] = await Promise.all([createClerkTestKeys(), createIdpKey('k1'), createIdpKey('k2'), createIdpKey('k1')]);
  jwks = await startJwksServer([k1]);
});
afterAll(async () => {
  await jwks?.close();
});
afterEach(() => {
  vi.useRealTimers();
  jwks.setMode('ok');
  jwks.publish([k1]);
});

const clerkEnv = () => ({
  CLERK_SECRET_KEY: clerk.secretKey,
  NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: clerk.publishableKey,
  CLERK_JWT_KEY: clerk.publicKeyPem,
});

/** JWKS-only authentication (no JWT_SECRET), limits out of the way. */
const idpEnv = (overrides: Record<string, string | undefined> = {}) => ({
  JWT_SECRET: undefined,
  JWT_JWKS_URL: jwks.url,
  JWT_ALGORITHMS: 'RS256',
  JWT_ISSUER: IDP_ISSUER,
  JWT_AUDIENCE: IDP_AUDIENCE,
  RATE_LIMIT_API: '100000/60',
  RATE_LIMIT_AUTH_FAILURES: '100000/60',
  RATE_LIMIT_TOKEN: '100000/60',
  ...overrides,
});

const advance = (ms: number) => vi.setSystemTime(Date.now() + ms);

describe('RFC 6750 §3.1: another Authorization scheme', () => {
  it.each([
    ['Basic', 'Basic dXNlcjpwYXNzd29yZA=='],
    ['Digest', 'Digest username="u", realm="r", nonce="n", response="x"'],
    ['Negotiate', 'Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg'],
    ['an unknown scheme with a JWT', `Token ${'eyJhbGciOiJIUzI1NiJ9.e30.'}${'A'.repeat(43)}`],
  ])('%s → 401 with a bare Bearer challenge (no error code), credentials unread', async (_label, value) => {
    const res = await call(POST, tokenRequest({ token: null, headers: { authorization: value } }));
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'auth_scheme_unsupported' });
    expect(res.headers.get('WWW-Authenticate')).toBe('Bearer realm="realtime-token"');
    expect(h.upstream.requests).toHaveLength(0);
    const [failure] = h.events('auth_failure');
    expect(failure.metadata).toMatchObject({ code: 'auth_scheme_unsupported' });
    expect(h.rt.lines.join('')).not.toContain(value.slice(value.indexOf(' ') + 1, value.indexOf(' ') + 12));
  });

  it.each([
    ['Bearer with no token', 'Bearer'],
    ['Bearer with two tokens', 'Bearer a.b.c d.e.f'],
    ['Bearer glued to the token', 'Bearerabc.def.ghi'],
    ['a quoted scheme', '"Bearer" abc'],
  ])('a malformed Bearer header stays 400 auth_malformed without a challenge: %s', async (_label, value) => {
    const res = await call(POST, tokenRequest({ token: null, headers: { authorization: value } }));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'auth_malformed' });
    expect(res.headers.get('WWW-Authenticate')).toBeNull();
  });
});

describe('RFC 7515 §4.1.11: a critical header the server does not implement', () => {
  it('a Clerk-key-signed token with crit: ["x-anything"] is refused, in Authorization and in the cookie', async () => {
    h.configure(clerkEnv());
    const token = await clerk.sign({ header: { crit: ['x-anything'], 'x-anything': true } });
    for (const options of [{ token }, { token: null, headers: { cookie: `__session=${token}` } }]) {
      const res = await call(POST, tokenRequest(options));
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: 'auth_invalid' });
    }
    expect(h.events('auth_success')).toHaveLength(0);
    expect(h.upstream.requests).toHaveLength(0);
    // The control: the same key without crit is served.
    expect((await call(POST, tokenRequest({ token: await clerk.sign() }))).status).toBe(200);
  });

  it('an HS256 token whose header repeats alg or crit is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const { createHmac } = await import('node:crypto');
    const { TEST_JWT_SECRET } = await import('../support/tokens');
    for (const header of ['{"alg":"none","alg":"HS256"}', '{"alg":"HS256","crit":["x"],"crit":[]}']) {
      const input = `${b64url(header)}.${b64url(JSON.stringify({ sub: 'u', iat: now, exp: now + 60 }))}`;
      const token = `${input}.${createHmac('sha256', TEST_JWT_SECRET).update(input).digest('base64url')}`;
      expect((await call(POST, tokenRequest({ token }))).status, header).toBe(401);
    }
  });
});

describe('JWT_SECRET rotation', () => {
  const NEW = 'new-secret-0123456789abcdef0123456789abcd';
  const OLD = 'old-secret-0123456789abcdef0123456789abcd';

  it('tokens under JWT_SECRET and JWT_SECRET_PREVIOUS are both served, and auth_success names the key, never the secret', async () => {
    h.configure({ JWT_SECRET: NEW, JWT_SECRET_PREVIOUS: OLD });
    expect((await call(POST, tokenRequest({ token: await signJwt({}, { secret: NEW, subject: 'fresh' }) }))).status).toBe(200);
    expect((await call(POST, tokenRequest({ token: await signJwt({}, { secret: OLD, subject: 'outstanding' }) }))).status).toBe(200);
    expect(h.events('auth_success').map((e) => [e.userId, e.metadata])).toEqual([
      ['jwt:fresh', { method: 'jwt', keyId: 'current' }],
      ['jwt:outstanding', { method: 'jwt', keyId: 'previous' }],
    ]);
    expect(h.rt.lines.join('')).not.toMatch(/new-secret|old-secret/);
  });

  it('once JWT_SECRET_PREVIOUS is removed, tokens under it are 401', async () => {
    h.configure({ JWT_SECRET: NEW });
    expect((await call(POST, tokenRequest({ token: await signJwt({}, { secret: OLD }) }))).status).toBe(401);
    expect((await call(POST, tokenRequest({ token: await signJwt({}, { secret: NEW }) }))).status).toBe(200);
  });
});

describe('identity-provider JWTs (JWT_JWKS_URL)', () => {
  it('a provider token is served as jwks:<sub>, with the kid in auth_success', async () => {
    h.configure(idpEnv());
    const res = await call(POST, tokenRequest({ token: await k1.sign({}, { subject: 'carol' }) }));
    expect(res.status).toBe(200);
    expect(h.events('auth_success')[0]).toMatchObject({ userId: 'jwks:carol', metadata: { method: 'jwks', keyId: 'k1' } });
    // A token for another app of the same provider is not ours.
    expect((await call(POST, tokenRequest({ token: await k1.sign({}, { audience: 'another-app' }) }))).status).toBe(401);
  });

  it('rotation at the provider: a new kid is served after the cooldown, a removed kid is refused after the cache refresh', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    h.configure(idpEnv({ JWT_JWKS_COOLDOWN_SECONDS: '30', JWT_JWKS_CACHE_SECONDS: '300' }));
    const start = jwks.fetches;
    expect((await call(POST, tokenRequest({ token: await k1.sign() }))).status).toBe(200);
    jwks.publish([k1, k2]);
    advance(30_001);
    expect((await call(POST, tokenRequest({ token: await k2.sign() }))).status).toBe(200);
    jwks.publish([k2]);
    expect((await call(POST, tokenRequest({ token: await k1.sign() }))).status).toBe(200);
    advance(300_001);
    const refused = await call(POST, tokenRequest({ token: await k1.sign() }));
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: 'auth_invalid' });
    expect((await call(POST, tokenRequest({ token: await k2.sign() }))).status).toBe(200);
    expect(jwks.fetches - start).toBe(3);
  });

  it('a flood of unknown kids fetches the JWKS at most once per cooldown', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    h.configure(idpEnv({ JWT_JWKS_COOLDOWN_SECONDS: '30' }));
    const start = jwks.fetches;
    const forged = await Promise.all(Array.from({ length: 60 }, (_, i) => stranger.sign({}, { header: { kid: `kid-${i}` } })));
    const answers: Answer[] = [];
    // Five cooldowns; in each, three bursts of 60 concurrent requests.
    for (let window = 0; window < 5; window++) {
      for (let burst = 0; burst < 3; burst++) {
        answers.push(...(await Promise.all(forged.map((token) => call(POST, tokenRequest({ token }))))));
        advance(10_000);
      }
    }
    expect(byStatus(answers)).toEqual({ 401: 900 });
    expect(jwks.fetches - start).toBeLessThanOrEqual(5);
  });

  it('an unreachable JWKS answers 503 auth_unavailable, logged critical once, counted as no client failure', async () => {
    h.configure(idpEnv({ JWT_JWKS_URL: await deadUrl(), RATE_LIMIT_AUTH_FAILURES: undefined }));
    const answers = await sequential(30, async () => call(POST, tokenRequest({ token: await k1.sign() })));
    expect(byStatus(answers)).toEqual({ 503: 30 });
    for (const a of answers) {
      expect(a.body).toMatchObject({ error: 'auth_unavailable' });
      expect(a.headers.get('WWW-Authenticate')).toBeNull();
    }
    const critical = h.entries().filter((e) => e.level === 'critical');
    expect(critical).toHaveLength(1);
    expect(critical[0]).toMatchObject({ event: 'config_error', metadata: { code: 'auth_unavailable' } });
    expect(h.events('auth_failure')).toHaveLength(0);
    expect(h.events('suspicious_activity')).toHaveLength(0);
    // 30 requests later the IP still has all of its auth-failure allowance.
    const left = await h.rt.runtime.store.peek('203.0.113.7', h.rt.runtime.config.rateLimits.authFailures);
    expect(left.remaining).toBe(20);
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('a JWKS answering 500 is fetched at most once per cooldown, however many requests arrive', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    jwks.setMode('status500');
    h.configure(idpEnv({ JWT_JWKS_COOLDOWN_SECONDS: '30' }));
    const start = jwks.fetches;
    const token = await k1.sign();
    const answers: Answer[] = [];
    for (let step = 0; step < 12; step++) {
      answers.push(...(await Promise.all(Array.from({ length: 20 }, () => call(POST, tokenRequest({ token }))))));
      advance(10_000);
    }
    expect(byStatus(answers)).toEqual({ 503: 240 });
    // 120 s of traffic: the first attempt and one per 30 s cooldown after it.
    expect(jwks.fetches - start).toBeLessThanOrEqual(5);
    expect(h.entries().filter((e) => e.level === 'critical')).toHaveLength(1);
  });
});

describe('duplicate JSON member names (RFC 8259 §4, RFC 7493 §2.3)', () => {
  it.each([
    ['the issue example', '{"voice":"nope","voice":"alloy"}'],
    ['an allowed voice twice', '{"voice":"echo","voice":"alloy"}'],
    ['an escaped spelling of the name', '{"voice":"echo","\\u0076oice":"alloy"}'],
    ['model twice around instructions with colons', '{"model":"gpt-4o","instructions":"Tone: calm","model":"gpt-realtime"}'],
  ])('%s → 400 json_invalid, nothing sent upstream', async (_label, body) => {
    const res = await call(POST, tokenRequest({ body }));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'json_invalid' });
    expect(h.events('input_validation_failed')[0].metadata).toMatchObject({ code: 'json_invalid', reason: 'body repeats a member name' });
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('names that appear inside string values are not members: 200', async () => {
    const res = await call(POST, tokenRequest({ body: '{"voice":"alloy","instructions":"say \\"voice\\": \\"echo\\", \\"voice\\": 1"}' }));
    expect(res.status).toBe(200);
  });
});

describe('voices the Realtime API does not accept', () => {
  it('the default allowlist logs one start-up warning naming fable, onyx and nova; requests log none', async () => {
    const [warning, ...rest] = h.rt.startup;
    expect(rest).toEqual([]);
    expect(warning).toMatchObject({ level: 'warn', event: 'config_error', metadata: { variable: 'ALLOWED_VOICES', rejectedVoices: ['fable', 'onyx', 'nova'] } });
    await sequential(3, () => call(POST, tokenRequest()));
    expect(h.events('config_error')).toHaveLength(0);
  });

  it('the API contract is kept: fable passes validation and the upstream refusal is a 502 upstream_rejected', async () => {
    const res = await call(POST, tokenRequest({ body: { voice: 'fable' } }));
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ error: 'upstream_rejected' });
  });

  it('the voice page offers only voices that can work', () => {
    const html = renderToStaticMarkup(createElement(Home));
    const offered = [...html.matchAll(/<option value="([^"]+)"/g)].map((m) => m[1]).filter((v) => !v.startsWith('gpt-'));
    expect(offered).toEqual(['alloy', 'echo', 'shimmer']);
    h.configure({ ALLOWED_VOICES: 'nova,marin,onyx', DEFAULT_VOICE: 'nova' });
    const other = renderToStaticMarkup(createElement(Home));
    expect([...other.matchAll(/<option value="([^"]+)"( selected="")?/g)].filter((m) => !m[1].startsWith('gpt-')).map((m) => m[0])).toEqual([
      '<option value="marin" selected=""',
    ]);
  });
});

describe('an upstream 200 must look like an ephemeral key', () => {
  it.each(Object.keys(HOSTILE_SUCCESS))('mock mode %s → 502 upstream_error; nothing of it reaches the client or the logs', async (mode) => {
    h.upstream.setMode(mode);
    const res = await call(POST, tokenRequest());
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ error: 'upstream_error', message: expect.any(String), traceId: res.headers.get('X-Trace-Id') });
    const [line] = h.events('upstream_error');
    expect(line.metadata).toMatchObject({ code: 'upstream_error', status: 200, reason: expect.stringMatching(/not an ephemeral key|expires_at/) });
    for (const text of [res.text, headerText(res.headers), h.rt.lines.join('')]) {
      expect(text).not.toMatch(/sk-proj-[0-9a-f]|ek_[0-9a-f]{8}|<script>/);
    }
  });

  it('the control: a well-formed key is relayed', async () => {
    const res = await call(POST, tokenRequest());
    expect(res.status).toBe(200);
    expect(res.body?.value).toMatch(/^ek_[0-9a-f]{32}$/);
  });
});

describe('configuration in production', () => {
  it('a cleartext OPENAI_BASE_URL to a non-loopback host stops the start, naming the variable', () => {
    let error: unknown;
    try {
      h.configure({ OPENAI_BASE_URL: 'http://api.openai.com/v1' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variables).toEqual(['OPENAI_BASE_URL']);
    // The loopback stand-in these tests use is allowed.
    expect(h.rt.runtime.config.openai.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:/);
  });
});
