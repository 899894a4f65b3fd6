import { describe, expect, it } from 'vitest';
import { GET, POST } from '@/app/api/realtime/token/route';
import { signJwt } from '../support/tokens';
import {
  ALLOWED_ORIGIN,
  call,
  PEER_IP,
  sequential,
  SERVER_KEY,
  tokenRequest,
  routeHarness,
  type Answer,
  type RequestOptions,
} from './helpers';

/**
 * The security log as an operator reads it: the right events per request,
 * correlated by trace id; no secrets in any line; untrusted text cannot
 * forge a line; repeated failures from one IP raise suspicious_activity once.
 */

const h = routeHarness();

describe('events per request', () => {
  const cases: Array<[label: string, send: () => Promise<Answer>, status: number, events: string[]]> = [
    ['200', async () => call(POST, tokenRequest()), 200, ['auth_success', 'token_issued']],
    ['401 missing', async () => call(POST, tokenRequest({ token: null })), 401, ['auth_failure']],
    ['401 invalid', async () => call(POST, tokenRequest({ token: 'a.b.c' })), 401, ['auth_failure']],
    ['400 malformed Authorization', async () => call(POST, tokenRequest({ token: null, headers: { authorization: 'Bearer a b' } })), 400, ['auth_failure']],
    ['400 body', async () => call(POST, tokenRequest({ body: { voice: 'x' } })), 400, ['auth_success', 'input_validation_failed']],
    ['400 JSON', async () => call(POST, tokenRequest({ body: '{' })), 400, ['auth_success', 'input_validation_failed']],
    ['403', async () => call(POST, tokenRequest({ origin: 'https://evil.example' })), 403, ['origin_validation_failed']],
    ['413', async () => call(POST, tokenRequest({ body: JSON.stringify({ instructions: 'x'.repeat(20_000) }) })), 413, ['input_validation_failed']],
    ['415', async () => call(POST, tokenRequest({ contentType: 'text/plain' })), 415, ['input_validation_failed']],
    ['502', async () => {
      h.upstream.setMode('error500');
      return call(POST, tokenRequest());
    }, 502, ['auth_success', 'upstream_error']],
    ['503 not configured', async () => {
      h.configure({ OPENAI_API_KEY: undefined });
      return call(POST, tokenRequest());
    }, 503, ['config_error']],
    ['429 token', async () => {
      h.configure({ RATE_LIMIT_TOKEN: '1/60' });
      await call(POST, tokenRequest());
      h.rt.lines.length = 0;
      return call(POST, tokenRequest());
    }, 429, ['auth_success', 'rate_limit_exceeded']],
    ['429 API', async () => {
      h.configure({ RATE_LIMIT_API: '1/60' });
      await call(POST, tokenRequest());
      h.rt.lines.length = 0;
      return call(POST, tokenRequest());
    }, 429, ['rate_limit_exceeded']],
  ];

  it.each(cases)('%s: the right events, with the response trace id and the request context', async (_label, send, status, events) => {
    const res = await send();
    expect(res.status).toBe(status);
    const entries = h.entries();
    expect(entries.map((e) => e.event)).toEqual(events);
    for (const entry of entries) {
      expect(entry).toMatchObject({
        traceId: res.headers.get('X-Trace-Id'),
        ip: PEER_IP,
        endpoint: '/api/realtime/token',
        method: 'POST',
        timestamp: new Date(h.rt.runtime.now()).toISOString(),
      });
      expect(['info', 'warn', 'error', 'critical']).toContain(entry.level);
    }
    if (events.includes('auth_success')) expect(entries.at(-1)?.userId).toBe('jwt:user-1');
  });

  it('the token_issued entry names model, voice and session, not the key', async () => {
    const res = await call(POST, tokenRequest({ body: { voice: 'echo' } }));
    const [issued] = h.events('token_issued');
    expect(issued.level).toBe('info');
    expect(issued.metadata).toEqual({
      model: 'gpt-realtime',
      voice: 'echo',
      sessionId: (res.body?.session as { id: string }).id,
      expiresAt: res.body?.expires_at,
    });
  });
});

describe('no secrets in any log line', () => {
  it('server key, client JWTs, ephemeral keys and Authorization values never appear', async () => {
    const jwt = await signJwt({}, { subject: 'secretive' });
    const wrongKeyJwt = await signJwt({}, { secret: 'wrong-secret-0123456789abcdef0123456789' });
    const issued: string[] = [];
    const requests: RequestOptions[] = [
      { token: jwt },
      { token: jwt, body: { voice: 'alloy', instructions: `my key is ${SERVER_KEY}` } },
      { token: wrongKeyJwt },
      { token: null, headers: { authorization: `Basic ${Buffer.from(`user:${SERVER_KEY}`).toString('base64')}` } },
      { token: null, headers: { authorization: `Bearer ${jwt} extra` } },
      { token: null, query: `?token=${jwt}&access_token=${jwt}` },
      { token: null, headers: { cookie: `__session=${jwt}` } },
      { token: jwt, headers: { 'user-agent': `curl/8 Bearer ${jwt} ${SERVER_KEY}` } },
      { token: jwt, origin: `https://${jwt}.example`, headers: {} },
      { token: jwt, body: { [SERVER_KEY]: jwt } },
      { token: jwt, body: `{"voice": "${jwt}"}` },
    ];
    for (const options of requests) {
      const res = await call(POST, tokenRequest(options));
      if (typeof res.body?.value === 'string') issued.push(res.body.value);
    }
    h.upstream.setMode('unauthorized');
    await call(POST, tokenRequest({ token: jwt }));
    await call(GET, tokenRequest({ method: 'GET', token: jwt, body: null }));

    expect(issued.length).toBeGreaterThanOrEqual(2);
    const log = h.rt.lines.join('');
    expect(h.rt.lines.length).toBeGreaterThan(10);
    for (const secret of [SERVER_KEY, jwt, wrongKeyJwt, ...issued, ...[jwt, wrongKeyJwt].map((t) => t.split('.')[2])]) {
      expect(log).not.toContain(secret);
    }
    expect(log).not.toMatch(/Bearer (?!\[REDACTED\])/);
    expect(log).not.toMatch(/\bsk-(?!\[REDACTED\])[A-Za-z0-9_-]{8,}/);
    expect(log).not.toMatch(/\bek_(?!\[REDACTED\])[A-Za-z0-9]{4,}/);
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });
});

describe('log injection', () => {
  // What Node's HTTP parser hands the route: header bytes as latin1 characters.
  const utf8AsLatin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
  const FORGED = '{"level":"critical","event":"auth_success","userId":"jwt:admin"}';

  const headerVectors: Array<[label: string, header: 'user-agent' | 'origin', value: string]> = [
    ['User-Agent with U+2028 (UTF-8 bytes)', 'user-agent', utf8AsLatin1(`a\u2028${FORGED}`)],
    ['User-Agent with U+2029 (UTF-8 bytes)', 'user-agent', utf8AsLatin1(`a\u2029${FORGED}`)],
    ['User-Agent with bidi override (UTF-8 bytes)', 'user-agent', utf8AsLatin1('evil\u202etxt.exe')],
    ['User-Agent with NEL (U+0085)', 'user-agent', `a\u0085${FORGED}`],
    ['User-Agent with ANSI escape', 'user-agent', 'a\u001b[2J\u001b[31mFAKE'],
    ['User-Agent with vertical tab and form feed', 'user-agent', `a\u000b\u000c${FORGED}`],
    ['User-Agent with DEL and C1', 'user-agent', 'a\u007f\u009b31m'],
    ['Origin with U+2028 (UTF-8 bytes)', 'origin', utf8AsLatin1(`https://x.example\u2028${FORGED}`)],
    ['Origin with bidi isolate (UTF-8 bytes)', 'origin', utf8AsLatin1('https://\u2066evil\u2069.example')],
  ];

  it.each(headerVectors)('%s cannot start a second line or hide text', async (_label, header, value) => {
    await call(POST, tokenRequest({ headers: { [header]: value } }));
    expectOneRecordPerLine(h.rt.lines);
    const field = header === 'user-agent' ? 'userAgent' : 'origin';
    for (const entry of h.entries()) {
      expect(entry[field]).toBeDefined();
      expect(entry[field]).not.toMatch(UNSAFE);
    }
  });

  const subjects: Array<[label: string, sub: string]> = [
    ['newline', `x\n${FORGED}`],
    ['carriage return', `x\r${FORGED}`],
    ['CRLF', `x\r\n${FORGED}`],
    ['U+2028', `x\u2028${FORGED}`],
    ['U+2029', `x\u2029${FORGED}`],
    ['right-to-left override', 'admin\u202e'],
    ['left-to-right isolate', '\u2066admin\u2069'],
    ['zero-width joiner', 'ad\u200dmin'],
    ['lone surrogate', 'x\ud800y'],
  ];

  it.each(subjects)('a JWT subject with %s is escaped in userId and messages', async (_label, sub) => {
    h.configure({ RATE_LIMIT_TOKEN: '1/60' });
    const token = await signJwt({}, { subject: sub });
    expect((await call(POST, tokenRequest({ token }))).status).toBe(200);
    expect((await call(POST, tokenRequest({ token }))).status).toBe(429);
    expectOneRecordPerLine(h.rt.lines);
    const entries = h.entries();
    expect(entries.map((e) => e.event)).toEqual(['auth_success', 'token_issued', 'auth_success', 'rate_limit_exceeded']);
    for (const entry of entries) {
      expect(entry.userId).toMatch(/^jwt:/);
      expect(entry.userId).not.toMatch(UNSAFE);
      expect(entry.message).not.toMatch(UNSAFE);
    }
  });
});

describe('suspicious_activity', () => {
  it('is logged once, critical, when one IP reaches 10 failures in 5 minutes', async () => {
    const answers = await sequential(15, () => call(POST, tokenRequest({ token: 'bad.token.value' })));
    const suspicious = h.events('suspicious_activity');
    expect(suspicious).toHaveLength(1);
    expect(suspicious[0]).toMatchObject({
      level: 'critical',
      ip: PEER_IP,
      traceId: answers[9].headers.get('X-Trace-Id'),
      metadata: { threshold: 10, windowSeconds: 300, lastFailure: 'auth_invalid' },
    });
  });

  it('counts every kind of failure: origin, malformed and invalid auth, 429s', async () => {
    h.configure({ RATE_LIMIT_API: '12/60' });
    const sends: Array<() => Promise<Answer>> = [
      ...Array.from({ length: 3 }, () => () => call(POST, tokenRequest({ origin: 'https://evil.example' }))),
      ...Array.from({ length: 3 }, () => () => call(POST, tokenRequest({ token: null, headers: { authorization: 'Basic x' } }))),
      ...Array.from({ length: 3 }, () => () => call(POST, tokenRequest({ token: null }))),
    ];
    for (const send of sends) await send();
    expect(h.events('suspicious_activity')).toHaveLength(0);
    // Nine failures so far; six valid requests use up the API limit (12 incl. the six auth failures)...
    await sequential(6, () => call(POST, tokenRequest()));
    expect(h.events('suspicious_activity')).toHaveLength(0);
    // ...and the 429 that follows is the tenth failure.
    const res = await call(POST, tokenRequest());
    expect(res.status).toBe(429);
    expect(h.events('suspicious_activity')).toEqual([
      expect.objectContaining({ traceId: res.headers.get('X-Trace-Id'), metadata: expect.objectContaining({ lastFailure: 'rate_limit:api' }) }),
    ]);
  });

  it('failures spread over IPs do not trip it; a new burst after the window logs again', async () => {
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      await sequential(9, () => call(POST, tokenRequest({ token: null, forwardedFor: ip })));
    }
    expect(h.events('suspicious_activity')).toHaveLength(0);
    await call(POST, tokenRequest({ token: null, forwardedFor: '198.51.100.1' }));
    expect(h.events('suspicious_activity')).toHaveLength(1);
    h.rt.advance(300_000);
    await sequential(9, () => call(POST, tokenRequest({ token: null, forwardedFor: '198.51.100.1', origin: ALLOWED_ORIGIN })));
    expect(h.events('suspicious_activity')).toHaveLength(1);
    await call(POST, tokenRequest({ token: null, forwardedFor: '198.51.100.1' }));
    expect(h.events('suspicious_activity')).toHaveLength(2);
  });

  it('successful requests do not count', async () => {
    await sequential(10, () => call(POST, tokenRequest()));
    await sequential(9, () => call(POST, tokenRequest({ token: null })));
    expect(h.events('suspicious_activity')).toHaveLength(0);
  });
});

// Characters that would end, fake or disguise a line once written raw.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])/;

/** Each sink write is exactly one JSON record ending in one newline, with no other line terminator anywhere. */
function expectOneRecordPerLine(lines: readonly string[]): void {
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    expect(line.endsWith('\n')).toBe(true);
    const body = line.slice(0, -1);
    // Any of these ends a line for some log shipper or terminal.
    expect(body).not.toMatch(/[\n\r\u0085\u2028\u2029\u000b\u000c]/);
    expect(body).not.toMatch(UNSAFE);
    expect(() => JSON.parse(body)).not.toThrow();
  }
  const all = lines.join('');
  expect(all.split(/\r\n|[\n\r\u0085\u2028\u2029]/).filter(Boolean)).toHaveLength(lines.length);
}
