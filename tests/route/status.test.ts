import { describe, expect, it } from 'vitest';
import { DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT } from '@/app/api/realtime/token/route';
import { SignJWT } from 'jose';
import { createRuntime, setRuntime } from '@/lib/runtime';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import {
  ALLOWED_ORIGIN,
  byStatus,
  call,
  read,
  sequential,
  THROUGH_DOOR,
  tokenRequest,
  URL_TOKEN,
  routeHarness,
  type RequestOptions,
} from './helpers';

/** Every status the token route can answer, one labelled attacker case per row. */

const h = routeHarness();

describe('200', () => {
  it('mints a key for a valid JWT, from an allowed origin and from a non-browser client', async () => {
    for (const origin of [ALLOWED_ORIGIN, 'http://localhost:3000', null]) {
      const res = await call(POST, tokenRequest({ origin, body: { voice: 'echo', model: 'gpt-realtime-mini' } }));
      expect(res.status, String(origin)).toBe(200);
      expect(res.body).toMatchObject({ value: expect.stringMatching(/^ek_/), session: { model: 'gpt-realtime-mini', voice: 'echo' } });
    }
    expect(h.upstream.requests).toHaveLength(3);
  });

  it('accepts an empty body and applies the defaults', async () => {
    const res = await call(POST, tokenRequest({ body: '' }));
    expect(res.status).toBe(200);
    expect(res.body?.session).toMatchObject({ model: 'gpt-realtime', voice: 'alloy' });
  });
});

describe('400', () => {
  const cases: Array<[label: string, options: RequestOptions, code: string]> = [
    ['Authorization: Bearer glued to the token', { token: null, headers: { authorization: 'Bearerabc.def.ghi' } }, 'auth_malformed'],
    ['Authorization: Bearer with no token', { token: null, headers: { authorization: 'Bearer' } }, 'auth_malformed'],
    ['Authorization: two tokens', { token: null, headers: { authorization: 'Bearer a.b.c d.e.f' } }, 'auth_malformed'],
    ['Authorization: token with illegal characters', { token: null, headers: { authorization: 'Bearer a.b.c;drop' } }, 'auth_malformed'],
    ['Authorization: token over 8 KiB', { token: 'a'.repeat(8193) }, 'auth_malformed'],
    ['malformed JSON', { body: '{"voice": "alloy",' }, 'json_invalid'],
    ['JSON with trailing garbage', { body: '{} {}' }, 'json_invalid'],
    ['invalid UTF-8', { body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }, 'json_invalid'],
    ['overlong UTF-8 encoding of "/"', { body: new Uint8Array([0x7b, 0x7d, 0xc0, 0xaf]) }, 'json_invalid'],
    ['unknown field', { body: { voice: 'alloy', temperature: 2 } }, 'body_invalid'],
    ['client-chosen TTL', { body: { expires_after: { seconds: 7200 } } }, 'body_invalid'],
    ['prototype pollution key', { body: '{"__proto__": {"admin": true}}' }, 'body_invalid'],
    ['voice outside the allowlist', { body: { voice: 'ash' } }, 'body_invalid'],
    ['voice with different case', { body: { voice: 'Alloy' } }, 'body_invalid'],
    ['model outside the allowlist', { body: { model: 'gpt-4o' } }, 'body_invalid'],
    ['model as an array', { body: { model: ['gpt-realtime'] } }, 'body_invalid'],
    ['instructions of 2001 characters', { body: { instructions: 'x'.repeat(2001) } }, 'body_invalid'],
    ['instructions of 8001 characters', { body: { instructions: 'x'.repeat(8001) } }, 'body_invalid'],
    ['instructions as a number', { body: { instructions: 42 } }, 'body_invalid'],
    ['body is an array', { body: [] }, 'body_invalid'],
    ['body is a string', { body: '"alloy"' }, 'body_invalid'],
    ['body is null', { body: 'null' }, 'body_invalid'],
    ['8000-deep nested arrays', { body: `${'['.repeat(8000)}${']'.repeat(8000)}` }, 'body_invalid'],
    ['deeply nested instructions object', { body: `{"instructions":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}` }, 'body_invalid'],
    ['duplicate member name (RFC 7493 §2.3), the last one outside the allowlist', { body: '{"voice":"alloy","voice":"ash"}' }, 'json_invalid'],
    ['duplicate member name, both inside the allowlist', { body: '{"voice":"echo","voice":"alloy"}' }, 'json_invalid'],
  ];

  it.each(cases)('%s → 400', async (_label, options, code) => {
    const res = await call(POST, tokenRequest(options));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: code, traceId: res.headers.get('X-Trace-Id') });
    expect(res.headers.get('WWW-Authenticate')).toBeNull();
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('names the offending fields without echoing the values', async () => {
    const res = await call(POST, tokenRequest({ body: { voice: '<img src=x onerror=alert(1)>', 'evil\u202ekey': 1 } }));
    expect(res.status).toBe(400);
    expect(res.body?.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'voice' }),
        expect.objectContaining({ message: expect.stringContaining('(unprintable)') }),
      ]),
    );
    expect(res.text).not.toContain('onerror');
    expect(res.text).not.toContain('\u202e');
  });

  // Regression: a broken body stream used to escape as a 500 internal_error with an error-level log.
  it('a body stream that fails mid-read (client abort) → 400 json_invalid, logged as a warning, not a 500', async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"voice":'));
        controller.error(new Error('ECONNRESET: client aborted'));
      },
    });
    const req = new Request(URL_TOKEN, {
      method: 'POST',
      headers: { ...THROUGH_DOOR, 'content-type': 'application/json', authorization: `Bearer ${await signJwt()}`, 'x-forwarded-for': '203.0.113.7' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    const res = await read(await POST(req));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'json_invalid', traceId: res.headers.get('X-Trace-Id') });
    expect(res.text).not.toContain('ECONNRESET');
    expect(h.entries().map((e) => [e.event, e.level])).toEqual([['input_validation_failed', 'warn']]);
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('accepts instructions of exactly 2000 characters after sanitizing', async () => {
    const res = await call(POST, tokenRequest({ body: { instructions: `${'x'.repeat(2000)}<script>y</script>   ` } }));
    expect(res.status).toBe(200);
    expect(h.upstream.requests[0].body.session.instructions).toBe('x'.repeat(2000));
  });
});

describe('401', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases: Array<[label: string, options: () => Promise<RequestOptions>, code: string]> = [
    ['no credentials', async () => ({ token: null }), 'auth_missing'],
    ['garbage bearer token', async () => ({ token: 'not-a-jwt' }), 'auth_invalid'],
    ['JWT-shaped garbage', async () => ({ token: 'eyJhbGciOiJIUzI1NiJ9.e30.AAAA' }), 'auth_invalid'],
    ['expired JWT', async () => ({ token: await signJwt({}, { expiresIn: now() - 60, issuedAt: now() - 120 }) }), 'auth_invalid'],
    ['JWT issued beyond the max age', async () => ({ token: await signJwt({}, { issuedAt: now() - 7200, expiresIn: now() + 600 }) }), 'auth_invalid'],
    ['JWT issued in the future', async () => ({ token: await signJwt({}, { issuedAt: now() + 3600, expiresIn: now() + 7200 }) }), 'auth_invalid'],
    ['alg none', async () => ({ token: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'admin', iat: now(), exp: now() + 300 })}.` }), 'auth_invalid'],
    ['alg none with a signature copied from a real token', async () => {
      const real = await signJwt();
      return { token: `${b64({ alg: 'none' })}.${b64({ sub: 'admin', iat: now(), exp: now() + 300 })}.${real.split('.')[2]}` };
    }, 'auth_invalid'],
    ['wrong key', async () => ({ token: await signJwt({}, { secret: 'another-secret-0123456789abcdef0123456789' }) }), 'auth_invalid'],
    ['HS512 with the right secret', async () => ({ token: await signJwt({}, { alg: 'HS512' }) }), 'auth_invalid'],
    ['payload swapped under a valid signature', async () => {
      const [head, , sig] = (await signJwt({}, { subject: 'alice' })).split('.');
      return { token: `${head}.${b64({ sub: 'admin', iat: now(), exp: now() + 300 })}.${sig}` };
    }, 'auth_invalid'],
    ['JWT without exp', async () => ({ token: await signNoExp() }), 'auth_invalid'],
    ['JWT with an empty subject', async () => ({ token: await signJwt({}, { subject: '' }) }), 'auth_invalid'],
    ['JWT in ?token= only', async () => ({ token: null, query: `?token=${await signJwt()}` }), 'auth_missing'],
    ['JWT in ?access_token= only', async () => ({ token: null, query: `?access_token=${await signJwt()}` }), 'auth_missing'],
    ['JWT in a form-style body field', async () => ({ token: null, body: { access_token: await signJwt() } }), 'auth_missing'],
    ['HS256 JWT in the __session cookie (JWT fallback takes the header only)', async () => ({ token: null, headers: { cookie: `__session=${await signJwt()}` } }), 'auth_invalid'],
    ['Authorization: Basic (another scheme, RFC 6750 §3.1)', async () => ({ token: null, headers: { authorization: 'Basic dXNlcjpwYXNz' } }), 'auth_scheme_unsupported'],
    ['Authorization: Digest', async () => ({ token: null, headers: { authorization: 'Digest username="u", realm="r"' } }), 'auth_scheme_unsupported'],
  ];

  it.each(cases)('%s → 401', async (_label, options, code) => {
    const res = await call(POST, tokenRequest(await options()));
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: code, traceId: res.headers.get('X-Trace-Id') });
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer realm="realtime-token"/);
    expect(h.upstream.requests).toHaveLength(0);
    expect(h.events('auth_failure')).toHaveLength(1);
    expect(h.events('auth_success')).toHaveLength(0);
  });

  it('checks issuer and audience when configured', async () => {
    h.configure({ JWT_ISSUER: 'https://issuer.example', JWT_AUDIENCE: 'realtime' });
    const cases: Array<[string, Record<string, string>, number]> = [
      ['both right', { iss: 'https://issuer.example', aud: 'realtime' }, 200],
      ['wrong issuer', { iss: 'https://evil.example', aud: 'realtime' }, 401],
      ['wrong audience', { iss: 'https://issuer.example', aud: 'other' }, 401],
      ['neither', {}, 401],
    ];
    for (const [label, claims, status] of cases) {
      const res = await call(POST, tokenRequest({ token: await signJwt(claims) }));
      expect(res.status, label).toBe(status);
    }
  });
});

describe('403', () => {
  const cases: Array<[label: string, headers: Record<string, string>]> = [
    ['unlisted origin', { origin: 'https://evil.example' }],
    ['suffix: allowed origin as a subdomain of the attacker', { origin: 'https://app.example.com.evil.example' }],
    ['prefix: attacker subdomain of the allowed origin', { origin: 'https://evil.app.example.com' }],
    ['attacker domain ending with the allowed host', { origin: 'https://evilapp.example.com' }],
    ['null origin (sandboxed iframe, file:)', { origin: 'null' }],
    ['scheme: http instead of https', { origin: 'http://app.example.com' }],
    ['scheme: https instead of http', { origin: 'https://localhost:3000' }],
    ['port: explicit other port', { origin: 'https://app.example.com:8443' }],
    ['port: localhost without port', { origin: 'http://localhost' }],
    ['case: upper-case host', { origin: 'https://APP.example.com' }],
    ['case: upper-case scheme', { origin: 'HTTPS://app.example.com' }],
    ['trailing slash', { origin: 'https://app.example.com/' }],
    ['path after origin', { origin: 'https://app.example.com/evil' }],
    ['credentials in origin', { origin: 'https://app.example.com@evil.example' }],
    ['two origins in one header', { origin: 'https://app.example.com https://evil.example' }],
    ['wildcard', { origin: '*' }],
    ['empty origin', { origin: '' }],
    ['trailing dot host', { origin: 'https://app.example.com.' }],
    ['Sec-Fetch-Site cross-site without Origin', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site same-site without Origin', { 'sec-fetch-site': 'same-site' }],
  ];

  it.each(cases)('%s → 403', async (_label, headers) => {
    const res = await call(POST, tokenRequest({ headers }));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'origin_not_allowed', traceId: res.headers.get('X-Trace-Id') });
    expect(res.headers.get('Access-Control-Allow-Origin')).toBeNull();
    expect(h.events('origin_validation_failed')).toHaveLength(1);
    expect(h.upstream.requests).toHaveLength(0);
  });
});

describe('405', () => {
  const cases: Array<[label: string, handler: (req: Request) => Promise<Response>]> = [
    ['GET', GET],
    ['PUT', PUT],
    ['PATCH', PATCH],
    ['DELETE', DELETE],
    ['HEAD', HEAD],
  ];

  it.each(cases)('%s → 405 with Allow', async (method, handler) => {
    const res = await call(handler, tokenRequest({ method, body: method === 'GET' || method === 'HEAD' ? null : {} }));
    expect(res.status).toBe(405);
    expect(res.headers.get('Allow')).toBe('POST, OPTIONS');
    expect(res.body).toMatchObject({ error: 'method_not_allowed', traceId: res.headers.get('X-Trace-Id') });
    expect(h.upstream.requests).toHaveLength(0);
    expect(h.events('auth_success')).toHaveLength(0);
  });

  it('OPTIONS without a preflight answers 204 with Allow', async () => {
    const res = await call(OPTIONS, tokenRequest({ method: 'OPTIONS', body: null }));
    expect(res.status).toBe(204);
    expect(res.headers.get('Allow')).toBe('POST, OPTIONS');
  });
});

describe('413', () => {
  it('refuses a declared Content-Length over 16 KiB without reading the body', async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(1024).fill(0x20));
      },
    });
    const req = new Request(URL_TOKEN, {
      method: 'POST',
      headers: { ...THROUGH_DOOR, 'content-type': 'application/json', 'content-length': String(16 * 1024 + 1), authorization: `Bearer ${await signJwt()}` },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    const res = await read(await POST(req));
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: 'body_too_large' });
    expect(pulled).toBeLessThanOrEqual(2);
  });

  it('accepts exactly 16 KiB and refuses 16 KiB + 1 byte', async () => {
    const sized = (n: number) => `{"instructions":"${'a'.repeat(n - 19)}"}`;
    expect(sized(16384)).toHaveLength(16384);
    // 16 KiB is within the byte cap; the instructions are too long, so validation (after the cap) answers.
    expect((await call(POST, tokenRequest({ body: sized(16384) }))).status).toBe(400);
    expect((await call(POST, tokenRequest({ body: sized(16385) }))).status).toBe(413);
  });

  const streamed: Array<[label: string, contentLength: string | null]> = [
    ['no Content-Length', null],
    ['Content-Length that lies (10)', '10'],
    ['Content-Length 0', '0'],
    ['non-numeric Content-Length', 'abc'],
  ];

  it.each(streamed)('a streamed 1 MiB body with %s is cut off at the cap while reading', async (_label, contentLength) => {
    let pulledBytes = 0;
    let cancelled = false;
    // 1 MiB of JSON whitespace: a reader without a cap would read it all and mint a token.
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulledBytes >= 1024 * 1024) return controller.close();
        pulledBytes += 1024;
        controller.enqueue(new Uint8Array(1024).fill(0x20));
      },
      cancel() {
        cancelled = true;
      },
    });
    const headers: Record<string, string> = { ...THROUGH_DOOR, 'content-type': 'application/json', authorization: `Bearer ${await signJwt()}` };
    if (contentLength !== null) headers['content-length'] = contentLength;
    const req = new Request(URL_TOKEN, { method: 'POST', headers, body: stream, duplex: 'half' } as RequestInit);
    const res = await read(await POST(req));
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: 'body_too_large' });
    // Reading stopped near the cap (plus at most the stream's read-ahead), and the rest was cancelled.
    expect(pulledBytes).toBeLessThanOrEqual(16 * 1024 + 64 * 1024);
    expect(cancelled).toBe(true);
    expect(h.upstream.requests).toHaveLength(0);
    expect(h.events('auth_success')).toHaveLength(0);
  });
});

describe('415', () => {
  const cases: Array<[label: string, contentType: string | null, body: string]> = [
    ['text/plain', 'text/plain', '{}'],
    ['text/plain;charset=utf-8 (CORS-simple)', 'text/plain;charset=utf-8', '{}'],
    ['form', 'application/x-www-form-urlencoded', 'voice=alloy'],
    ['multipart', 'multipart/form-data; boundary=x', '--x\r\n\r\n{}\r\n--x--'],
    ['missing content type with a body', null, '{}'],
    ['JSON look-alike', 'application/jsonp', '{}'],
    ['JSON with another charset', 'application/json; charset=utf-16', '{}'],
    ['two types', 'application/json, text/plain', '{}'],
    ['empty content type', '', '{}'],
  ];

  it.each(cases)('%s → 415', async (_label, contentType, body) => {
    const req = await tokenRequest({ contentType, body });
    if (contentType === null) req.headers.delete('content-type');
    const res = await call(POST, req);
    expect(res.status).toBe(415);
    expect(res.body).toMatchObject({ error: 'unsupported_media_type' });
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('accepts application/json with a utf-8 charset in any case', async () => {
    for (const type of ['application/json', 'Application/JSON; charset=UTF-8', 'application/json;charset="utf-8"']) {
      expect((await call(POST, tokenRequest({ contentType: type }))).status, type).toBe(200);
    }
  });
});

describe('429', () => {
  it('token limit: exactly 10 per user, then 429 with Retry-After', async () => {
    const answers = await sequential(12, async () => call(POST, tokenRequest({ token: await tokenFor('alice') })));
    expect(answers.slice(0, 10).map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(answers.slice(10).map((a) => a.status)).toEqual([429, 429]);
    expect(answers[10].body).toMatchObject({ error: 'rate_limited' });
    expect(answers[10].headers.get('Retry-After')).toBe('60');
    expect(h.upstream.requests).toHaveLength(10);
  });

  it('API limit: 100 per IP, then 429, whoever the user is', async () => {
    const answers = await sequential(101, async (i) => call(POST, tokenRequest({ token: await tokenFor(`user-${i}`) })));
    expect(byStatus(answers)).toEqual({ 200: 100, 429: 1 });
    expect(answers[100].headers.get('X-RateLimit-Limit')).toBe('100');
    expect(answers[100].headers.get('Retry-After')).toBe('60');
    // Another IP is not affected.
    expect((await call(POST, tokenRequest({ forwardedFor: '198.51.100.1' }))).status).toBe(200);
  });

  it('auth-failure limit: after 20 failures the 21st request is refused even with a valid token, unverified', async () => {
    const failures = await sequential(20, () => call(POST, tokenRequest({ token: 'bad.token.value' })));
    expect(failures.map((a) => a.status)).toEqual(Array(20).fill(401));
    const before = h.entries().length;

    const res = await call(POST, tokenRequest({ token: await signJwt({}, { subject: 'valid-user' }) }));
    expect(res.status).toBe(429);
    expect(res.body).toMatchObject({ error: 'rate_limited' });
    expect(Number(res.headers.get('Retry-After'))).toBeGreaterThanOrEqual(299);
    expect(res.headers.get('X-RateLimit-Limit')).toBe('20');
    // Credentials were never looked at: no auth_success / auth_failure for this request.
    const after = h.entries().slice(before);
    expect(after.map((e) => e.event)).toEqual(['rate_limit_exceeded']);
    expect(after[0].userId).toBeUndefined();
    expect(after[0].metadata).toMatchObject({ policy: 'auth' });
    expect(h.upstream.requests).toHaveLength(0);
    // Another IP with the same valid token is served.
    expect((await call(POST, tokenRequest({ forwardedFor: '198.51.100.1' }))).status).toBe(200);
  });
});

describe('500', () => {
  it('an unexpected failure is a generic 500 with a trace id and no error text', async () => {
    setRuntime(
      createRuntime({
        ...h.rt.runtime,
        store: {
          hit: async () => {
            throw new Error('store exploded at /internal/path');
          },
          peek: async () => {
            throw new Error('store exploded');
          },
          reserve: async () => {
            throw new Error('store exploded');
          },
          draw: async () => {
            throw new Error('store exploded');
          },
          close: async () => {},
        },
      }),
    );
    const res = await call(POST, tokenRequest());
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: 'internal_error', message: expect.any(String), traceId: res.headers.get('X-Trace-Id') });
    expect(res.text).not.toMatch(/exploded|internal\/path|at /);
    expect(h.events('internal_error')).toHaveLength(1);
  });
});

describe('502', () => {
  const cases: Array<[label: string, mode: string, body: Record<string, unknown>, code: string]> = [
    ['upstream 500', 'error500', {}, 'upstream_error'],
    ['connection reset', 'reset', {}, 'upstream_error'],
    ['truncated JSON', 'badjson', {}, 'upstream_error'],
    ['redirect (not followed)', 'redirect', {}, 'upstream_error'],
    ['body over the upstream cap', 'huge', {}, 'upstream_error'],
    ['bad server key (401)', 'unauthorized', {}, 'upstream_auth'],
    ['session rejected (400)', 'rejected', {}, 'upstream_rejected'],
    ["allow-listed voice the Realtime API rejects ('fable')", 'ok', { voice: 'fable' }, 'upstream_rejected'],
  ];

  it.each(cases)('%s → 502 (mock mode %s)', async (_label, mode, body, code) => {
    h.upstream.setMode(mode);
    const res = await call(POST, tokenRequest({ body }));
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ error: code, message: expect.any(String), traceId: res.headers.get('X-Trace-Id') });
    expect(res.headers.get('Retry-After')).toBeNull();
    expect(h.upstream.requests.length).toBeLessThanOrEqual(1);
    expect(h.events('upstream_error')).toHaveLength(1);
  });

  it('a bad server key is logged critical', async () => {
    h.upstream.setMode('unauthorized');
    await call(POST, tokenRequest());
    expect(h.events('upstream_error')).toEqual([
      expect.objectContaining({ level: 'critical', metadata: expect.objectContaining({ code: 'upstream_auth', status: 401 }) }),
    ]);
  });

  it('a server key the upstream does not know is a 502 too', async () => {
    h.configure({ OPENAI_API_KEY: 'sk-revoked-key-0000000000' });
    const res = await call(POST, tokenRequest());
    expect(res.status).toBe(502);
    expect(res.body?.error).toBe('upstream_auth');
  });

  it('an unreachable upstream is a 502', async () => {
    h.configure({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
    const res = await call(POST, tokenRequest());
    expect(res.status).toBe(502);
    expect(res.body?.error).toBe('upstream_error');
  });
});

describe('503', () => {
  const unconfigured: Array<[label: string, env: Record<string, undefined | string>]> = [
    ['no OPENAI_API_KEY', { OPENAI_API_KEY: undefined }],
    ['empty OPENAI_API_KEY', { OPENAI_API_KEY: '' }],
    ['no auth method configured', { JWT_SECRET: undefined }],
  ];

  it.each(unconfigured)('%s → 503 service_unavailable, nothing verified, nothing sent upstream', async (_label, env) => {
    h.configure(env);
    const res = await call(POST, tokenRequest());
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'service_unavailable' });
    expect(res.headers.get('Retry-After')).toBeNull();
    expect(h.events('config_error')).toHaveLength(1);
    expect(h.events('auth_success')).toHaveLength(0);
    expect(h.upstream.requests).toHaveLength(0);
  });

  const busy: Array<[label: string, mode: string, retryAfter: string]> = [
    ['upstream quota exhausted (insufficient_quota)', 'quota', '30'],
    ['upstream rate limit with Retry-After: 7', 'ratelimit', '7'],
  ];

  it.each(busy)('%s → 503 upstream_rate_limited (mock mode %s)', async (_label, mode, retryAfter) => {
    h.upstream.setMode(mode);
    const res = await call(POST, tokenRequest());
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'upstream_rate_limited' });
    expect(res.headers.get('Retry-After')).toBe(retryAfter);
    expect(h.upstream.requests).toHaveLength(1);
  });
});

describe('504', () => {
  it('an upstream that never answers hits UPSTREAM_TIMEOUT_MS', async () => {
    h.configure({ UPSTREAM_TIMEOUT_MS: '100' });
    h.upstream.setMode('hang');
    const res = await call(POST, tokenRequest());
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ error: 'upstream_timeout' });
    expect(h.upstream.requests).toHaveLength(1);
    expect(h.events('upstream_error')[0].metadata).toMatchObject({ code: 'upstream_timeout' });
  });
});

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

const tokens = new Map<string, Promise<string>>();
function tokenFor(sub: string): Promise<string> {
  if (!tokens.has(sub)) tokens.set(sub, signJwt({}, { subject: sub }));
  return tokens.get(sub)!;
}

async function signNoExp(): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject('user-1')
    .setIssuedAt()
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
}
