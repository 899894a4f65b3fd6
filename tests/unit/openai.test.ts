import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEphemeralKey, UpstreamError, type OpenAIClientOptions, type UpstreamFailureCode } from '@/lib/openai';
import type { TokenRequest } from '@/lib/validation';
import { startMockOpenAI } from '../../scripts/mock-openai.mjs';
import { listenLoopback } from '../support/loopback.mjs';
import { expectClientSecretsRequest } from '../support/upstream';

const API_KEY = 'sk-test-unit-server-key-0123456789';
const request: TokenRequest = { voice: 'alloy', model: 'gpt-realtime' };

let upstream: Awaited<ReturnType<typeof startMockOpenAI>>;

beforeAll(async () => {
  upstream = await startMockOpenAI();
});
afterAll(async () => {
  await upstream?.close();
});
afterEach(() => {
  upstream.setMode('ok');
  upstream.requests.length = 0;
});

const options = (over: Partial<OpenAIClientOptions> = {}): OpenAIClientOptions => ({
  apiKey: API_KEY,
  baseUrl: upstream.baseUrl,
  timeoutMs: 2_000,
  ttlSeconds: 60,
  ...over,
});

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UpstreamError);
    return error as UpstreamError;
  }
  throw new Error('expected an UpstreamError');
}

/** A throwaway loopback server for upstream behaviours the mock does not have. */
async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    req.on('end', () => handler(req, res));
  });
  const { port, close } = await listenLoopback(server);
  return { baseUrl: `http://127.0.0.1:${port}/v1`, hits: () => hits, close };
}

describe('request shape', () => {
  it('POSTs the GA client_secrets body with the server key', async () => {
    await createEphemeralKey(
      { voice: 'shimmer', model: 'gpt-realtime-mini', instructions: 'Be brief.' },
      options({ ttlSeconds: 120 }),
    );
    expect(upstream.requests).toHaveLength(1);
    const [sent] = upstream.requests;
    expectClientSecretsRequest(sent, API_KEY, { seconds: 120, model: 'gpt-realtime-mini', instructions: 'Be brief.', voice: 'shimmer' });
  });

  it('omits instructions when there are none', async () => {
    await createEphemeralKey(request, options());
    const session = upstream.requests[0].body.session;
    expect(session).toEqual({ type: 'realtime', model: 'gpt-realtime', audio: { output: { voice: 'alloy' } } });
    expect('instructions' in session).toBe(false);
    expect(upstream.requests[0].raw).not.toContain('instructions');
  });

  it('sends nothing from the caller but the three validated fields', async () => {
    const sneaky = { ...request, tools: [{ type: 'function' }], expires_after: { seconds: 99_999 } } as TokenRequest;
    await createEphemeralKey(sneaky, options());
    expect(Object.keys(upstream.requests[0].body).sort()).toEqual(['expires_after', 'session']);
    expect(Object.keys(upstream.requests[0].body.session).sort()).toEqual(['audio', 'model', 'type']);
    expect(upstream.requests[0].body.expires_after.seconds).toBe(60);
  });

  it('makes exactly one call per key (no retries that multiply cost)', async () => {
    upstream.setMode('error500');
    await failure(createEphemeralKey(request, options()));
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('success', () => {
  it('returns only the allow-listed fields', async () => {
    const key = await createEphemeralKey({ ...request, instructions: 'secret plan' }, options());
    expect(Object.keys(key).sort()).toEqual(['expires_at', 'session', 'value']);
    expect(Object.keys(key.session).sort()).toEqual(['id', 'model', 'voice']);
    expect(key.value).toMatch(/^ek_[0-9a-f]{32}$/);
    expect(key.expires_at).toBeGreaterThan(Date.now() / 1000);
    expect(key.session).toEqual({ id: expect.stringMatching(/^sess_/), model: 'gpt-realtime', voice: 'alloy' });
    expect(JSON.stringify(key)).not.toContain('secret plan');
  });
});

describe('failures map to stable codes', () => {
  it.each([
    ['error500', 'upstream_error', undefined, 500],
    ['reset', 'upstream_error', undefined, undefined],
    ['badjson', 'upstream_error', undefined, 200],
    ['unauthorized', 'upstream_auth', undefined, 401],
    ['quota', 'upstream_rate_limited', 30, 429],
    ['ratelimit', 'upstream_rate_limited', 7, 429],
    ['rejected', 'upstream_rejected', undefined, 400],
    ['redirect', 'upstream_error', undefined, undefined],
    ['huge', 'upstream_error', undefined, undefined],
  ] as const)('mode %s → %s', async (mode, code, retryAfter, status) => {
    upstream.setMode(mode);
    const error = await failure(createEphemeralKey(request, options()));
    expect(error.code).toBe(code satisfies UpstreamFailureCode);
    expect(error.retryAfterSeconds).toBe(retryAfter);
    if (status !== undefined) expect(error.detail.status).toBe(status);
  });

  it('a voice the Realtime API rejects → upstream_rejected', async () => {
    const error = await failure(createEphemeralKey({ voice: 'fable', model: 'gpt-realtime' }, options()));
    expect(error.code).toBe('upstream_rejected');
    expect(error.detail).toMatchObject({ status: 400, errorType: 'invalid_request_error', errorCode: 'invalid_value' });
  });

  it('a wrong server key → upstream_auth', async () => {
    const strict = await startMockOpenAI({ apiKey: 'sk-the-real-key-000000' });
    try {
      const error = await failure(createEphemeralKey(request, options({ baseUrl: strict.baseUrl })));
      expect(error.code).toBe('upstream_auth');
      expect(JSON.stringify(error.detail)).not.toContain(API_KEY);
    } finally {
      await strict.close();
    }
  });

  it('keeps the type and code of an OpenAI error for the logs', async () => {
    upstream.setMode('quota');
    const error = await failure(createEphemeralKey(request, options()));
    expect(error.detail).toEqual({
      status: 429,
      errorType: 'insufficient_quota',
      errorCode: 'insufficient_quota',
      reason: 'upstream rate limit or quota',
    });
  });

  it('an unreachable upstream → upstream_error', async () => {
    const gone = await startServer((_req, res) => res.end());
    const baseUrl = gone.baseUrl;
    await gone.close();
    const error = await failure(createEphemeralKey(request, options({ baseUrl })));
    expect(error.code).toBe('upstream_error');
    expect(error.detail.reason).toMatch(/network error/);
  });
});

describe('deadline', () => {
  it('an upstream that never answers → upstream_timeout', async () => {
    upstream.setMode('hang');
    const error = await failure(createEphemeralKey(request, options({ timeoutMs: 150 })));
    expect(error.code).toBe('upstream_timeout');
    expect(error.detail.reason).toBe('no answer within 150 ms');
  });

  it('an upstream that sends headers and then stalls the body → upstream_timeout', async () => {
    const slow = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"value":"ek_');
    });
    try {
      const error = await failure(createEphemeralKey(request, options({ baseUrl: slow.baseUrl, timeoutMs: 150 })));
      expect(error.code).toBe('upstream_timeout');
    } finally {
      await slow.close();
    }
  });
});

describe('redirects are never followed', () => {
  it('a 307 to a server that would mint a key is refused, and that server sees nothing', async () => {
    const redirector = await startServer((_req, res) => {
      res.writeHead(307, { Location: `${upstream.baseUrl}/realtime/client_secrets` });
      res.end();
    });
    try {
      const error = await failure(createEphemeralKey(request, options({ baseUrl: redirector.baseUrl })));
      expect(error.code).toBe('upstream_error');
      expect(redirector.hits()).toBe(1);
      expect(upstream.requests).toHaveLength(0);
    } finally {
      await redirector.close();
    }
  });

  it.each([301, 302, 303, 308])('status %i is an upstream_error', async (status) => {
    const redirector = await startServer((_req, res) => {
      res.writeHead(status, { Location: `${upstream.baseUrl}/realtime/client_secrets` });
      res.end();
    });
    try {
      expect((await failure(createEphemeralKey(request, options({ baseUrl: redirector.baseUrl })))).code).toBe('upstream_error');
      expect(upstream.requests).toHaveLength(0);
    } finally {
      await redirector.close();
    }
  });
});

describe('upstream bodies are parsed against an allowlist', () => {
  const cases: Array<[string, number, string, UpstreamFailureCode]> = [
    ['a success body without value', 200, '{"expires_at":1}', 'upstream_error'],
    ['a numeric value', 200, '{"value":123,"expires_at":1}', 'upstream_error'],
    ['an empty value', 200, '{"value":"","expires_at":1}', 'upstream_error'],
    ['an oversized value', 200, JSON.stringify({ value: `ek_${'x'.repeat(5000)}`, expires_at: 1 }), 'upstream_error'],
    ['a string expiry', 200, '{"value":"ek_x","expires_at":"soon"}', 'upstream_error'],
    ['a negative expiry', 200, '{"value":"ek_x","expires_at":-1}', 'upstream_error'],
    ['a JSON array', 200, '[]', 'upstream_error'],
    ['an HTML error page', 200, '<html>oops</html>', 'upstream_error'],
    ['invalid UTF-8', 200, '\u0000', 'upstream_error'],
    ['an empty 200', 200, '', 'upstream_error'],
    ['a 201', 201, '{"value":"ek_x","expires_at":1}', 'upstream_error'],
    ['a 204', 204, '', 'upstream_error'],
    ['a 404', 404, '{"error":{"message":"Invalid URL","type":"invalid_request_error"}}', 'upstream_rejected'],
    ['a 403', 403, '{"error":{"message":"Country not supported"}}', 'upstream_auth'],
    ['a 503 HTML page', 503, '<html>down</html>', 'upstream_error'],
    ['a 400 with an oversized error type', 400, JSON.stringify({ error: { type: 'x'.repeat(500), code: 'y' } }), 'upstream_rejected'],
  ];

  it.each(cases)('%s → %s', async (_label, status, body, code) => {
    const server = await startServer((_req, res) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(body === '\u0000' ? Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) : body);
    });
    try {
      const error = await failure(createEphemeralKey(request, options({ baseUrl: server.baseUrl })));
      expect(error.code).toBe(code);
      expect(JSON.stringify(error.detail)).not.toContain('x'.repeat(101));
    } finally {
      await server.close();
    }
  });

  it('fills missing session model and voice from the request and drops everything else', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 60;
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ value: 'ek_abc123abc123abc123', expires_at: expiresAt, extra: 'drop me', session: { id: 'sess_1', tools: ['x'] } }));
    });
    try {
      const key = await createEphemeralKey(request, options({ baseUrl: server.baseUrl }));
      expect(key).toEqual({ value: 'ek_abc123abc123abc123', expires_at: expiresAt, session: { id: 'sess_1', model: 'gpt-realtime', voice: 'alloy' } });
    } finally {
      await server.close();
    }
  });

  describe('a 200 must look like an ephemeral key', () => {
    const NOW = Date.UTC(2026, 11, 1, 10, 0, 0);
    const nowSeconds = NOW / 1000;
    const good = { value: `ek_${'a1'.repeat(16)}`, expires_at: nowSeconds + 60, session: { id: 'sess_abc123', model: 'gpt-realtime' } };

    async function answer(body: unknown): Promise<Awaited<ReturnType<typeof createEphemeralKey>>> {
      const server = await startServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      });
      try {
        return await createEphemeralKey(request, options({ baseUrl: server.baseUrl, now: () => NOW }));
      } finally {
        await server.close();
      }
    }

    it.each([
      ['the well-formed answer', good],
      ['expires_at exactly now + TTL + 30 s skew', { ...good, expires_at: nowSeconds + 60 + 30 }],
      ['expires_at exactly now', { ...good, expires_at: nowSeconds }],
      ['a key with - and _', { ...good, value: 'ek_AZaz09-_AZaz09-_xx' }],
    ])('accepts %s', async (_label, body) => {
      expect((await answer(body)).value).toBe(body.value);
    });

    const leaked = `sk-proj-${'Zx9'.repeat(16)}`;
    it.each([
      ['an sk-proj- value', { ...good, value: leaked }, 'value'],
      ['an sk- value', { ...good, value: `sk-${'a'.repeat(40)}` }, 'value'],
      ['an ek_ value with other characters', { ...good, value: 'ek_abcdefghijklmnop<script>' }, 'value'],
      ['an ek_ value with a space', { ...good, value: 'ek_abcdefgh ijklmnop' }, 'value'],
      ['a short ek_ value', { ...good, value: 'ek_abc' }, 'value'],
      ['an ek_ value over 259 characters', { ...good, value: `ek_${'a'.repeat(257)}` }, 'value'],
      ['EK_ in capitals', { ...good, value: `EK_${'a'.repeat(32)}` }, 'value'],
      ['a value that is not a string', { ...good, value: 42 }, 'value'],
      ['a fractional expires_at', { ...good, expires_at: nowSeconds + 59.5 }, 'expires_at'],
      ['a string expires_at', { ...good, expires_at: String(nowSeconds + 60) }, 'expires_at'],
      ['an expires_at in the past', { ...good, expires_at: nowSeconds - 1 }, 'outside'],
      ['an expires_at past TTL + skew', { ...good, expires_at: nowSeconds + 60 + 31 }, 'outside'],
      ['an expires_at a day away', { ...good, expires_at: nowSeconds + 86_400 }, 'outside'],
      ['no session', { value: good.value, expires_at: good.expires_at }, 'session'],
      ['no session.id', { ...good, session: { model: 'gpt-realtime' } }, 'session.id'],
      ['a session.id without sess_', { ...good, session: { id: 'abc123' } }, 'session.id'],
      ['a session.id that is a key', { ...good, session: { id: leaked } }, 'session.id'],
    ])('refuses %s as upstream_error, naming the field and not the value', async (_label, body, field) => {
      const error = await failure(answer(body));
      expect(error.code).toBe('upstream_error');
      expect(error.detail.reason).toContain(field);
      expect(JSON.stringify(error.detail) + error.message).not.toMatch(/sk-|ek_[a-z0-9]{4}|<script>/);
    });
  });

  it('a Retry-After larger than an hour is capped; a garbage one falls back to 30 s', async () => {
    for (const [header, expected] of [['999999', 3600], ['soon', 30], ['-5', 30], ['2.2', 3]] as const) {
      const server = await startServer((_req, res) => {
        res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': header });
        res.end('{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}');
      });
      try {
        expect((await failure(createEphemeralKey(request, options({ baseUrl: server.baseUrl })))).retryAfterSeconds).toBe(expected);
      } finally {
        await server.close();
      }
    }
  });
});

describe('errors never carry upstream text or the server key', () => {
  const upstreamText = [
    'secret-upstream-detail',
    'The server had an error',
    'Incorrect API key',
    'sk-abc',
    'exceeded your current quota',
    'Rate limit reached',
    'Invalid value',
    'Supported values',
    'ek_truncated',
    'steal',
    API_KEY,
  ];

  it.each(['error500', 'badjson', 'unauthorized', 'quota', 'ratelimit', 'rejected', 'redirect', 'huge', 'reset'])(
    'mode %s',
    async (mode) => {
      upstream.setMode(mode);
      const error = await failure(createEphemeralKey(request, options()));
      const visible = JSON.stringify({ message: error.message, detail: error.detail, name: error.name });
      for (const text of upstreamText) expect(visible).not.toContain(text);
    },
  );

  it('user instructions echoed back in an upstream error never reach the error', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'Invalid instructions: CANARY-INSTR', type: 'invalid_request_error', code: null } }));
    });
    try {
      const error = await failure(createEphemeralKey({ ...request, instructions: 'CANARY-INSTR' }, options({ baseUrl: server.baseUrl })));
      expect(JSON.stringify({ m: error.message, d: error.detail })).not.toContain('CANARY');
    } finally {
      await server.close();
    }
  });
});
