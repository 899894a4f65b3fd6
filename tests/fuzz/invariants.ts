import { expect } from 'vitest';
import type { AppConfig } from '@/lib/config';
import { ERRORS } from '@/lib/errors';
import { SECURITY_EVENTS } from '@/lib/security-logger';
import { expectHeaders, HSTS, SECURITY_HEADERS } from '../support/headers';
import type { FuzzCase } from './attacker';
import { judgeBody, type Expectation } from './model';

/**
 * The properties every answer must have, whatever was sent: what the client
 * sees (status, headers, body), what reached OpenAI, and what was logged.
 */

export interface UpstreamRequest {
  method?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  raw: string;
}

export interface Observation {
  readonly c: FuzzCase;
  readonly expected: Expectation;
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** Requests that reached the upstream while this one ran. */
  readonly upstream: readonly UpstreamRequest[];
  /** Log lines written while this one ran. */
  readonly lines: readonly string[];
}

export interface Secrets {
  readonly serverKey: string;
  /** JWT secret, Clerk secret key, every credential handed out. */
  readonly others: readonly string[];
}

const RATE_LIMIT_HEADERS = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit-policy', 'ratelimit'];
const W3C_TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
/** What fetch may send upstream: nothing of the client's request but the validated body. */
const UPSTREAM_HEADERS = new Set([
  'host', 'connection', 'content-type', 'content-length', 'authorization', 'accept', 'accept-language', 'accept-encoding', 'sec-fetch-mode', 'user-agent',
  // fetch's cache: 'no-store'.
  'cache-control', 'pragma',
]);
// Raw characters a log line must never carry (the logger escapes them).
const UNSAFE_IN_LOG = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;
const INVISIBLE = /[\u0000-\u0008\u000e-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/;
const EVENTS = new Set<string>(SECURITY_EVENTS);

/** Strings whose appearance in a log line or an answer is a leak, with the JWT signatures on their own. */
function leakNeedles(secrets: Secrets, issued: string | undefined): string[] {
  const needles = [secrets.serverKey, ...secrets.others];
  for (const s of secrets.others) {
    const signature = s.split('.')[2];
    if (signature && signature.length >= 16) needles.push(signature);
  }
  if (issued) needles.push(issued);
  return needles;
}

export function checkObservation(o: Observation, config: AppConfig, secrets: Secrets): void {
  const { c, expected, status, headers, text } = o;
  const where = `${c.method} auth=${c.auth.label} body=${c.body.label} → ${status} ${text.slice(0, 200)}`;

  // Never a 5xx other than the mapped upstream ones; the status the contract predicts.
  expect(status >= 500 && ![502, 503, 504].includes(status), `unmapped 5xx: ${where}`).toBe(false);
  expect([...expected.statuses], `status: ${where}`).toContain(status);

  // Never a 200 without valid auth, an allowed origin and a valid body (stated on its own, whatever the model says).
  if (status === 200) {
    const auth = config.clerk ? c.auth.outcome.clerk : c.auth.outcome.noClerk;
    expect({ method: c.method, auth, origin: c.origin.allowed, body: judgeBody(c.body.bytes, config).kind }, where).toEqual({
      method: 'POST',
      auth: 'valid',
      origin: true,
      body: 'valid',
    });
  }

  // Security headers and a trace id on every answer.
  // HSTS because NODE_ENV=production.
  expectHeaders(headers, { ...SECURITY_HEADERS, 'Strict-Transport-Security': HSTS }, where);
  expect(headers.get('permissions-policy'), where).toMatch(/microphone=\(\)/);
  const traceId = headers.get('x-trace-id');
  const parent = c.traceparent === null ? null : W3C_TRACEPARENT.exec(c.traceparent.trim());
  if (parent && !/^0+$/.test(parent[1]) && !/^0+$/.test(parent[2])) expect(traceId, `trace id from traceparent: ${where}`).toBe(parent[1]);
  if (expected.limited !== undefined) {
    for (const name of RATE_LIMIT_HEADERS) expect(headers.has(name), `${name} present iff a limiter ran: ${where}`).toBe(expected.limited);
  }
  if (status === 429 || status === 503) expect(Number(headers.get('retry-after')), where).toBeGreaterThanOrEqual(1);
  if (expected.retryAfter !== undefined) expect(headers.get('retry-after'), `Retry-After: ${where}`).toBe(String(expected.retryAfter));

  // The body: allow-listed fields on 200, the error table's code and message otherwise.
  let issued: string | undefined;
  if (status === 204) {
    expect(text, where).toBe('');
  } else {
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(body.traceId, where).toBe(traceId);
    if (status === 200) {
      expect(Object.keys(body).sort(), where).toEqual(['expires_at', 'session', 'traceId', 'value']);
      expect(Object.keys(body.session as object).sort(), where).toEqual(['id', 'model', 'voice']);
      expect(body.value, where).toMatch(/^ek_[0-9a-f]{32}$/);
      issued = body.value as string;
      if (expected.upstream) expect(body.session, where).toMatchObject({ model: expected.upstream.model, voice: expected.upstream.voice });
    } else {
      const code = body.error as keyof typeof ERRORS;
      expect([...expected.codes], `code: ${where}`).toContain(code);
      expect(ERRORS[code]?.status, where).toBe(status);
      expect(body.message, where).toBe(ERRORS[code].message);
      expect(Object.keys(body).filter((k) => !['error', 'message', 'traceId', 'issues'].includes(k)), where).toEqual([]);
      if (body.issues !== undefined) expect(code, where).toBe('body_invalid');
      // Names and rules only: nothing the client or the upstream wrote, no markup.
      expect(text, `error body is printable ASCII: ${where}`).toMatch(/^[\x20-\x7e]*$/);
      expect(JSON.stringify(body.issues ?? []), where).not.toMatch(/[<>]/);
    }
  }
  const answer = `${[...headers].map(([n, v]) => `${n}: ${v}`).join('\n')}\n${text}`;
  for (const needle of leakNeedles(secrets, undefined)) expect(answer.includes(needle), `secret in the answer: ${where}`).toBe(false);

  checkUpstream(o, config, secrets, where);
  checkLogs(o, secrets, issued, traceId!, where);
}

function checkUpstream(o: Observation, config: AppConfig, secrets: Secrets, where: string): void {
  const { expected } = o;
  if (expected.upstream === undefined) expect(o.upstream.length, where).toBeLessThanOrEqual(1);
  else {
    const seen = o.upstream.map((r) => `${r.method} ${r.url} ${r.raw.slice(0, 300)}`).join(' | ');
    expect(o.upstream.length, `upstream calls: ${where}; upstream saw: ${seen}`).toBe(expected.upstream === null ? 0 : 1);
  }
  for (const req of o.upstream) {
    expect(req.method, where).toBe('POST');
    expect(req.url, where).toBe('/v1/realtime/client_secrets');
    expect(req.headers.authorization, where).toBe(`Bearer ${secrets.serverKey}`);
    expect(Object.keys(req.headers).filter((h) => !UPSTREAM_HEADERS.has(h)), `client headers forwarded: ${where}`).toEqual([]);
    // The body is exactly the documented shape, every value inside the allowlists.
    const body = req.body as { expires_after: unknown; session: { model: string; instructions?: string; audio: { output: { voice: string } } } };
    expect(Object.keys(body).sort(), where).toEqual(['expires_after', 'session']);
    expect(body.expires_after, where).toEqual({ anchor: 'created_at', seconds: config.openai.tokenTtlSeconds });
    const session = body.session;
    expect(Object.keys(session).sort(), where).toEqual(session.instructions === undefined ? ['audio', 'model', 'type'] : ['audio', 'instructions', 'model', 'type']);
    expect(session.audio, where).toEqual({ output: { voice: session.audio.output.voice } });
    expect(config.models, where).toContain(session.model);
    expect(config.voices, where).toContain(session.audio.output.voice);
    if (session.instructions !== undefined) {
      const text = session.instructions;
      expect(typeof text === 'string' && text !== '', where).toBe(true);
      expect(text.isWellFormed() && text === text.normalize('NFC'), `instructions normalised: ${where}`).toBe(true);
      expect(INVISIBLE.test(text), `invisible characters upstream: ${where}`).toBe(false);
      // A script tag: "<script" ended by whitespace, "/", ">" or the end (the HTML tokenizer's tag-name rule).
      expect(text, `script upstream: ${where}`).not.toMatch(/<\/?script(?=[\s/>]|$)/i);
      expect(text, where).toBe(text.replace(/\s+/g, ' ').trim());
      expect([...text].length, where).toBeLessThanOrEqual(2000);
    }
    if (expected.upstream) {
      expect({ model: session.model, voice: session.audio.output.voice, instructions: session.instructions }, where).toEqual({
        model: expected.upstream.model,
        voice: expected.upstream.voice,
        instructions: expected.upstream.instructions,
      });
    }
  }
}

function checkLogs(o: Observation, secrets: Secrets, issued: string | undefined, traceId: string, where: string): void {
  const needles = leakNeedles(secrets, issued);
  const events: string[] = [];
  for (const line of o.lines) {
    expect(line.endsWith('\n') && line.indexOf('\n') === line.length - 1, `one line per entry: ${where}`).toBe(true);
    expect(line.isWellFormed(), `log line is well-formed UTF-16: ${where}`).toBe(true);
    expect(UNSAFE_IN_LOG.test(line), `raw control/bidi character in a log line: ${where}\n${line}`).toBe(false);
    const entry = JSON.parse(line) as Record<string, unknown>;
    expect(entry, where).toMatchObject({ timestamp: expect.any(String), level: expect.stringMatching(/^(info|warn|error|critical)$/), message: expect.any(String) });
    expect(EVENTS.has(entry.event as string), `unknown event ${String(entry.event)}`).toBe(true);
    expect(entry.traceId, where).toBe(traceId);
    for (const needle of needles) expect(line.includes(needle), `secret in a log line: ${where}\n${line}`).toBe(false);
    events.push(entry.event as string);
  }
  expect(events.filter((e) => e === 'token_issued').length, `token_issued once per 200: ${where}`).toBe(o.status === 200 ? 1 : 0);
  if (o.expected.suspicious !== undefined) {
    expect(events.filter((e) => e === 'suspicious_activity').length, `suspicious_activity: ${where}`).toBe(o.expected.suspicious);
  }
}
