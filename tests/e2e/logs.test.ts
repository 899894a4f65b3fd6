import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECURITY_EVENTS } from '@/lib/security-logger';
import { startMockOpenAI } from '../../scripts/mock-openai.mjs';
import { startApp, type AppServer, type LogLine } from '../support/app-server';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { flushLogs, logsFor, newTrace, nonJsonLines, postToken, TOKEN_PATH } from './http';

/**
 * The real server's stdout: one JSON object per event, nothing secret in it,
 * and untrusted header text that cannot forge or split a line.
 */

const SERVER_KEY = 'sk-logs-server-key-0123456789abcdef';
const KNOWN_EVENTS = new Set<string>([...SECURITY_EVENTS, 'server_started', 'server_stopping', 'front_door_limits']);
let app: AppServer;
let upstream: Awaited<ReturnType<typeof startMockOpenAI>>;
const stderr: string[] = [];

beforeAll(async () => {
  upstream = await startMockOpenAI({ apiKey: SERVER_KEY });
  app = await startApp({
    OPENAI_API_KEY: SERVER_KEY,
    OPENAI_BASE_URL: upstream.baseUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    ALLOWED_ORIGINS: 'https://app.example.com',
    // Many refused requests on purpose; keep the limiters and alerts out of the line counts.
    RATE_LIMIT_AUTH_FAILURES: '1000/300',
    RATE_LIMIT_SUSPICIOUS: '1000/300',
  });
  app.process.stderr!.on('data', (chunk: string) => stderr.push(chunk));
});
afterAll(async () => {
  await app?.stop();
  await upstream?.close();
});

describe('secrets never reach the logs', () => {
  it('server key, JWTs, ek_ values, Authorization and cookies stay out of stdout and stderr', async () => {
    const jwt = await signJwt({}, { subject: 'log-user' });
    const otherJwt = await signJwt({}, { subject: 'log-user-2' });
    const foreignJwt = await signJwt({}, { subject: 'x', secret: 'another-secret-0123456789abcdef0123456789' });
    const basic = Buffer.from('alice:correct-horse-battery').toString('base64');
    const issued: string[] = [];

    const ok = await postToken(app, { authorization: `Bearer ${jwt}` });
    expect(ok.status).toBe(200);
    issued.push((await ok.json()).value);

    // A token in the query string is never read, and the query never reaches the log.
    const query = await fetch(`${app.url}${TOKEN_PATH}?access_token=${otherJwt}&api_key=${SERVER_KEY}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${otherJwt}` },
      body: '{}',
    });
    expect(query.status).toBe(200);
    issued.push((await query.json()).value);

    const refused: Array<[Record<string, string>, string, number]> = [
      [{ authorization: `Bearer ${foreignJwt}` }, '{}', 401],
      [{ authorization: `Basic ${basic}` }, '{}', 401],
      [{ authorization: `Token ${jwt}` }, '{}', 401],
      [{ cookie: `__session=${jwt}; sid=${otherJwt}` }, '{}', 401],
      [{ 'user-agent': `curl/8 Bearer ${jwt} ${SERVER_KEY} ${issued[0]}` }, '{}', 401],
      [{ origin: `https://${foreignJwt}.example` }, '{}', 403],
      [{ authorization: `Bearer ${jwt}` }, JSON.stringify({ api_key: SERVER_KEY, token: jwt, instructions: `${issued[0]} ${SERVER_KEY}` }), 400],
      [{ authorization: `Bearer ${jwt}`, 'x-api-key': SERVER_KEY }, JSON.stringify({ voice: `alloy ${SERVER_KEY}` }), 400],
    ];
    for (const [headers, body, status] of refused) {
      const res = await postToken(app, headers, body);
      expect(res.status, JSON.stringify(headers).slice(0, 60)).toBe(status);
      const text = await res.text();
      for (const secret of [SERVER_KEY, jwt, otherJwt, foreignJwt, basic, ...issued]) expect(text).not.toContain(secret);
    }

    // The upstream echoes a key fragment in its error; none of it is logged.
    upstream.setMode('unauthorized');
    expect((await postToken(app, { authorization: `Bearer ${await signJwt({}, { subject: 'log-user-3' })}` })).status).toBe(502);
    upstream.setMode('ok');

    await flushLogs(app);
    const everything = [...app.stdout, ...stderr].join('\n');
    const secrets = [SERVER_KEY, jwt, otherJwt, foreignJwt, basic, 'correct-horse-battery', ...issued];
    for (const secret of [...secrets, ...[jwt, otherJwt, foreignJwt].map((t) => t.split('.')[2])]) {
      expect(everything).not.toContain(secret);
    }
    expect(everything).not.toContain('sk-abc');
    expect(everything).not.toMatch(/Bearer\s+(?!\[REDACTED\])[A-Za-z0-9]/);
    expect(everything).not.toMatch(/\bek_[0-9a-f]{8,}/);
    expect(everything).not.toContain('access_token');
    // What the redaction left behind, for the reader of a log line.
    expect(everything).toContain('[REDACTED_JWT]');
  });
});

describe('line discipline', () => {
  it('every stdout line is one JSON object with a known event and the documented fields', async () => {
    await postToken(app, { authorization: `Bearer ${await signJwt({}, { subject: 'shape-user' })}` });
    const lines = await flushLogs(app);
    expect(nonJsonLines(app)).toEqual([]);
    expect(lines.length).toBe(app.stdout.length);
    for (const line of lines) {
      expect(KNOWN_EVENTS.has(line.event!), line.event).toBe(true);
      expect(['info', 'warn', 'error', 'critical']).toContain(line.level);
      if (line.event === 'server_started' || line.event === 'server_stopping' || line.event === 'front_door_limits') continue;
      expect(line.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(Number.isNaN(Date.parse(String(line.timestamp)))).toBe(false);
      expect(typeof line.message).toBe('string');
      // Start-up configuration warnings (lib/config/warnings.ts) belong to no request.
      if (line.event === 'config_error' && line.level === 'warn' && line.endpoint === undefined) continue;
      expect(line.endpoint).toBe(String(line.endpoint).split('?')[0]);
    }
  });

  /** Sends raw bytes as the User-Agent value, past any client-side header validation. */
  async function rawUserAgent(bytes: Buffer, traceparent: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(app.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1').split('\r\n')[0]));
      socket.write(
        Buffer.concat([
          Buffer.from(`POST ${TOKEN_PATH} HTTP/1.1\r\nHost: 127.0.0.1:${app.port}\r\nUser-Agent: `),
          bytes,
          Buffer.from(`\r\ntraceparent: ${traceparent}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`),
        ]),
      );
    });
  }

  const FORGED = '{"level":"info","event":"token_issued","userId":"jwt:admin","traceId":"forged"}';
  const INJECTIONS: Array<[string, Buffer]> = [
    ['JSON breakout with quotes', Buffer.from(`x","event":"token_issued","userId":"jwt:admin","y":"`)],
    ['U+2028/U+2029 as UTF-8 bytes', Buffer.concat([Buffer.from('x'), Buffer.from('\u2028\u2029', 'utf8'), Buffer.from(FORGED)])],
    ['NEL (0x85)', Buffer.concat([Buffer.from('x'), Buffer.from([0x85]), Buffer.from(FORGED)])],
    ['bidi override (as UTF-8)', Buffer.from(`x\u202e${FORGED}`, 'utf8')],
    ['escaped newline text', Buffer.from(`x\\n${FORGED}\\r\\n`)],
    ['tab', Buffer.from(`x\t${FORGED}`)],
    ['bare LF', Buffer.from(`x\n${FORGED}`)],
    ['bare CR', Buffer.from(`x\r${FORGED}`)],
  ];

  it.each(INJECTIONS)('a User-Agent with %s cannot add or split a log line', async (_label, bytes) => {
    const linesBefore = app.stdout.length;
    const { traceId, traceparent } = newTrace();
    const statusLine = await rawUserAgent(bytes, traceparent);
    expect(statusLine).toMatch(/^HTTP\/1\.1 (401|400) /);
    const lines = await flushLogs(app);

    expect(nonJsonLines(app)).toEqual([]);
    const ours = lines.filter((l) => l.traceId === traceId);
    // Either Node refused the header outright (nothing logged) or exactly one auth_failure line.
    if (statusLine.includes(' 401 ')) {
      expect(ours.map((l) => l.event)).toEqual(['auth_failure']);
      expect(typeof ours[0].userAgent).toBe('string');
    } else {
      expect(ours).toEqual([]);
    }
    const added = app.stdout.slice(linesBefore);
    // Only our line and the flush marker were added; when Node's parser refused the
    // header, the front door's own refusal line too (fresh trace id, no User-Agent).
    const refusals = statusLine.includes(' 400 ') ? 1 : 0;
    expect(added.length).toBe(ours.length + 1 + refusals);
    if (refusals) {
      const refusal = JSON.parse(added[0]) as LogLine;
      expect(refusal).toMatchObject({ event: 'input_validation_failed', metadata: { code: 'bad_request' } });
      expect(refusal.userAgent).toBeUndefined();
    }
    expect(lines.some((l) => l.userId === 'jwt:admin' || l.traceId === 'forged')).toBe(false);
    expect(lines.filter((l) => l.event === 'token_issued' && l.traceId === traceId)).toEqual([]);
    // No raw line/paragraph separators, NEL or bidi controls survive into stdout.
    for (const line of added) expect(line).not.toMatch(/[\u0085\u2028\u2029\u202e\r]/);
  });

  it('a huge User-Agent is capped in the log', async () => {
    const { traceId, traceparent } = newTrace();
    const res = await postToken(app, { 'user-agent': 'A'.repeat(6000), traceparent });
    expect(res.status).toBe(401);
    const [line] = await logsFor(app, traceId);
    expect(String(line.userAgent).length).toBeLessThan(600);
    expect(String(line.userAgent)).toContain('truncated');
  });
});
