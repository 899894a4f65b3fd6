import { describe, expect, it } from 'vitest';
import { POST } from '@/app/api/realtime/token/route';
import { signJwt } from '../support/tokens';
import { ALLOWED_ORIGIN, call, headerText, SERVER_KEY, tokenRequest, routeHarness } from './helpers';
import { expectClientSecretsRequest } from '../support/upstream';

/**
 * What crosses the boundary to OpenAI and back: only allow-listed fields go
 * out (server-chosen TTL, sanitized instructions, never client extras or
 * client credentials); only allow-listed fields come back, and upstream error
 * text never reaches the client.
 */

const h = routeHarness();

describe('what reaches upstream', () => {
  it('exactly the GA request: server key, server TTL, allow-listed voice/model, nothing from the client', async () => {
    h.configure({ REALTIME_TOKEN_TTL_SECONDS: '123' });
    const jwt = await signJwt({}, { subject: 'isolated' });
    const res = await call(
      POST,
      tokenRequest({
        token: jwt,
        origin: ALLOWED_ORIGIN,
        body: { voice: 'shimmer', model: 'gpt-4o-mini-realtime-preview', instructions: 'Speak slowly.' },
        headers: {
          cookie: 'session=client-cookie-value',
          'user-agent': 'client-agent/1.0',
          'x-custom': 'client-header-value',
          'openai-organization': 'org-attacker',
          'openai-project': 'proj-attacker',
        },
      }),
    );
    expect(res.status).toBe(200);
    expect(h.upstream.requests).toHaveLength(1);
    const [sent] = h.upstream.requests;
    expectClientSecretsRequest(sent, SERVER_KEY, { seconds: 123, model: 'gpt-4o-mini-realtime-preview', instructions: 'Speak slowly.', voice: 'shimmer' });
    const everything = `${sent.raw}\n${JSON.stringify(sent.headers)}`;
    for (const leaked of [jwt, 'client-cookie-value', 'client-agent', 'client-header-value', 'org-attacker', 'proj-attacker', ALLOWED_ORIGIN, '203.0.113.7']) {
      expect(everything).not.toContain(leaked);
    }
  });

  it('the default TTL is 60 s and the defaults fill voice and model; no instructions key when none were sent', async () => {
    await call(POST, tokenRequest({ body: {} }));
    expect(h.upstream.requests[0].body).toEqual({
      expires_after: { anchor: 'created_at', seconds: 60 },
      session: { type: 'realtime', model: 'gpt-realtime', audio: { output: { voice: 'alloy' } } },
    });
  });

  const extras: Array<[label: string, body: Record<string, unknown>]> = [
    ['expires_after', { expires_after: { anchor: 'created_at', seconds: 7200 } }],
    ['session', { session: { type: 'realtime', tools: [{ type: 'function', name: 'exfil' }] } }],
    ['tools', { tools: [{ type: 'function' }] }],
    ['type', { type: 'transcription' }],
    ['audio', { audio: { output: { voice: 'ash' } } }],
    ['ttl', { ttl: 7200 }],
    ['api_key', { api_key: 'sk-attacker-00000000' }],
    ['nested voice object', { voice: { toString: 'alloy' } }],
  ];

  it.each(extras)('a client-sent %s is refused and never forwarded', async (_label, body) => {
    const res = await call(POST, tokenRequest({ body: { voice: 'alloy', ...body } }));
    expect(res.status).toBe(400);
    expect(h.upstream.requests).toHaveLength(0);
  });

  const sanitized: Array<[label: string, input: string, sent: string | undefined]> = [
    ['script element', '<script>alert(1)</script>Be kind.', 'Be kind.'],
    ['nested script reassembly', '<scr<script>x</script>ipt>alert(1)</script>Hi', 'alert(1)Hi'],
    ['upper-case script with attributes', '<SCRIPT src="//evil.example/x.js"></SCRIPT>Hello', 'Hello'],
    ['unclosed script', 'Hello<script>alert(1)', 'Hello'],
    ['bidi override and zero-width characters', 'Say\u202e olleh\u200b\u2066!', 'Say olleh!'],
    ['control characters', 'a\u0000b\u0007c\u001bd', 'abcd'],
    ['whitespace collapsed and trimmed', '  lots \n\n of \t\t space  ', 'lots of space'],
    ['NFC normalised', 'cafe\u0301', 'caf\u00e9'],
    ['only a script: no instructions sent', '<script>x</script>', undefined],
    ['only whitespace: no instructions sent', ' \n\t ', undefined],
  ];

  it.each(sanitized)('instructions: %s', async (_label, input, sent) => {
    const res = await call(POST, tokenRequest({ body: { instructions: input } }));
    expect(res.status).toBe(200);
    const session = h.upstream.requests[0].body.session;
    if (sent === undefined) expect(session).not.toHaveProperty('instructions');
    else expect(session.instructions).toBe(sent);
    expect(h.upstream.requests[0].raw).not.toMatch(/<script/i);
  });

  it('a custom voice allowlist is what the route enforces', async () => {
    h.configure({ ALLOWED_VOICES: 'marin,cedar', DEFAULT_VOICE: 'marin' });
    expect((await call(POST, tokenRequest({ body: { voice: 'alloy' } }))).status).toBe(400);
    expect((await call(POST, tokenRequest({ body: { voice: 'cedar' } }))).status).toBe(200);
    expect((await call(POST, tokenRequest({ body: {} }))).status).toBe(200);
    expect(h.upstream.requests.map((r) => r.body.session.audio.output.voice)).toEqual(['cedar', 'marin']);
  });
});

describe('what comes back from upstream', () => {
  it('only allow-listed fields: no upstream session.instructions, tools, audio formats or type', async () => {
    const res = await call(POST, tokenRequest({ body: { instructions: 'internal persona text' } }));
    expect(res.status).toBe(200);
    expect(Object.keys(res.body!).sort()).toEqual(['expires_at', 'session', 'traceId', 'value']);
    expect(Object.keys(res.body!.session as object).sort()).toEqual(['id', 'model', 'voice']);
    expect(res.body).toEqual({
      value: expect.stringMatching(/^ek_[0-9a-f]{32}$/),
      expires_at: expect.any(Number),
      session: { id: expect.stringMatching(/^sess_/), model: 'gpt-realtime', voice: 'alloy' },
      traceId: res.headers.get('X-Trace-Id'),
    });
    expect(res.text).not.toContain('internal persona text');
    expect(res.text).not.toContain('tool_choice');
  });

  // [label, mode, body, upstream text (never anywhere), upstream codes (logged for operators, never sent to the client)]
  const failures: Array<[label: string, mode: string, body: Record<string, unknown>, text: string[], codes: string[]]> = [
    ['500 with detail', 'error500', {}, ['secret-upstream-detail', 'processing your request'], ['server_error']],
    ['401 bad key', 'unauthorized', {}, ['Incorrect API key', 'sk-abc'], ['invalid_api_key']],
    ['429 quota', 'quota', {}, ['exceeded your current quota', 'billing'], ['insufficient_quota']],
    ['429 rate limit', 'ratelimit', {}, ['Rate limit reached'], ['rate_limit_exceeded']],
    ['400 rejected voice', 'ok', { voice: 'fable' }, ['Invalid value', 'Supported values', 'session.audio.output.voice', 'marin'], ['invalid_value']],
    ['redirect', 'redirect', {}, ['127.0.0.1:9', '/steal'], []],
    ['truncated JSON', 'badjson', {}, ['ek_truncated'], []],
    ['huge body', 'huge', {}, ['padding', 'ek_x'], []],
  ];

  it.each(failures)('%s: upstream text never reaches the client or the logs', async (_label, mode, body, text, codes) => {
    h.upstream.setMode(mode);
    const res = await call(POST, tokenRequest({ body }));
    expect(res.status).toBeGreaterThanOrEqual(502);
    expect(Object.keys(res.body!).sort()).toEqual(['error', 'message', 'traceId']);
    const client = `${res.text}\n${headerText(res.headers)}`;
    const logs = h.rt.lines.join('');
    for (const secret of [...text, ...codes, SERVER_KEY]) expect(client).not.toContain(secret);
    for (const secret of [...text, SERVER_KEY]) expect(logs).not.toContain(secret);
    expect(res.headers.get('Location')).toBeNull();
    // No retries that multiply cost.
    expect(h.upstream.requests).toHaveLength(1);
  });

  it('the log keeps the upstream status and error code, not its message', async () => {
    h.upstream.setMode('quota');
    await call(POST, tokenRequest());
    expect(h.events('upstream_error')[0].metadata).toEqual({
      code: 'upstream_rate_limited',
      status: 429,
      errorType: 'insufficient_quota',
      errorCode: 'insufficient_quota',
      reason: 'upstream rate limit or quota',
    });
  });
});
