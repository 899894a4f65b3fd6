import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { AppServer, LogLine } from '../support/app-server';
import { API_HEADERS as SUPPORT_API_HEADERS, expectHeaders, HSTS, PAGE_HEADERS, TRACE_ID, type HeaderTable } from '../support/headers';

/**
 * Small helpers shared by the e2e files: building requests against the real
 * server, reading its logs reliably, and the header checks every answer must pass.
 */

export const TOKEN_PATH = '/api/realtime/token';

/** A fresh W3C traceparent and the trace id it carries. */
export function newTrace(): { traceparent: string; traceId: string } {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
}

/** POST to the token endpoint with a JSON body (`{}` unless given). */
export function postToken(app: AppServer, headers: Record<string, string> = {}, body = '{}'): Promise<Response> {
  return fetch(`${app.url}${TOKEN_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

/** A CORS preflight for the token endpoint. */
export function preflight(
  app: AppServer,
  origin: string,
  options: { method?: string; headers?: string; extra?: Record<string, string> } = {},
): Promise<Response> {
  return fetch(`${app.url}${TOKEN_PATH}`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': options.method ?? 'POST',
      ...(options.headers !== undefined ? { 'access-control-request-headers': options.headers } : {}),
      ...options.extra,
    },
  });
}

/**
 * Waits until every log line written before this call has reached the test:
 * a refused preflight always logs, and stdout keeps its order, so once its
 * line arrives all earlier lines are in. It touches no limiter.
 */
export async function flushLogs(app: AppServer): Promise<LogLine[]> {
  const { traceId, traceparent } = newTrace();
  const res = await preflight(app, 'https://log-flush.invalid', { extra: { traceparent } });
  await res.arrayBuffer();
  await app.waitForLog((l) => l.traceId === traceId);
  return app.logs();
}

/** Log lines of one request. */
export async function logsFor(app: AppServer, traceId: string): Promise<LogLine[]> {
  return (await flushLogs(app)).filter((l) => l.traceId === traceId);
}

/** Names of every Access-Control-* response header. */
export function corsHeaderNames(res: Response): string[] {
  return [...res.headers.keys()].filter((name) => name.startsWith('access-control-'));
}

/** Headers every API answer of the production server carries (`null`: must be absent). */
export const API_HEADERS: HeaderTable = { ...SUPPORT_API_HEADERS, 'Strict-Transport-Security': HSTS };

export { expectHeaders, PAGE_HEADERS };

/** The API security headers plus a well-formed trace id; returns the trace id. */
export function expectApiHeaders(res: Response, label = ''): string {
  expectHeaders(res, API_HEADERS, label);
  const permissions = res.headers.get('permissions-policy') ?? '';
  expect(permissions, `${label} permissions-policy`).toContain('microphone=()');
  expect(permissions, `${label} permissions-policy`).toContain('camera=()');
  const traceId = res.headers.get('x-trace-id');
  expect(traceId, `${label} x-trace-id`).toMatch(TRACE_ID);
  return traceId!;
}

/** Every stdout line that is not JSON (there should be none). */
export function nonJsonLines(app: AppServer): string[] {
  return app.stdout.filter((line) => {
    try {
      return typeof JSON.parse(line) !== 'object';
    } catch {
      return true;
    }
  });
}

/** An answer read off the wire: status, lower-case header names, body text. */
export interface WireAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** Asserts the API error shape: JSON `{error, message, traceId}`, X-Trace-Id equal to it, the API security headers. */
export function expectApiRefusal(res: WireAnswer | undefined, status: number, code: string): void {
  expect(res, `no answer, expected ${status} ${code}`).toBeDefined();
  expect(res!.status).toBe(status);
  expect(res!.headers['content-type']).toMatch(/^application\/json/);
  const traceId = res!.headers['x-trace-id'];
  expect(traceId).toMatch(TRACE_ID);
  expect(JSON.parse(res!.body)).toEqual({ error: code, message: expect.any(String), traceId });
  // HTTP/2 pseudo-headers (`:status`) are not header names.
  const fields = Object.entries(res!.headers).filter(([name, value]) => !name.startsWith(':') && value !== undefined);
  expectHeaders(new Headers(fields.map(([name, value]): [string, string] => [name, String(value)])), API_HEADERS, `${status} ${code}`);
}
