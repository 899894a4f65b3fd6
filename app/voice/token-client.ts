/**
 * The browser side of `POST /api/realtime/token`: one request, one typed
 * result. No imports and no React, so the browser tests can serve this exact
 * file from other origins to prove what CORS lets through.
 *
 * Every outcome is a value: a network failure, a refused CORS
 * preflight and an unreadable answer come back as `status: 0` or a failure
 * code, never as an exception.
 */

export interface TokenRequestBody {
  readonly voice: string;
  readonly model: string;
  readonly instructions?: string;
}

/** The ephemeral key and its session; `value` is a secret: never render or log it. */
export interface IssuedToken {
  readonly value: string;
  /** Unix seconds. */
  readonly expiresAt: number;
  readonly sessionId: string;
  readonly model: string;
  readonly voice: string;
}

export interface RateLimitInfo {
  readonly limit: number;
  readonly remaining: number;
  /** Unix seconds when the window frees up. */
  readonly resetAt: number | undefined;
}

export interface TokenFailure {
  /** HTTP status; 0 when no response could be read (network, CORS, aborted). */
  readonly status: number;
  /** The server's stable error code, or `network_error` / `bad_response`. */
  readonly code: string;
  /** Seconds from `Retry-After`, when sent. */
  readonly retryAfterSeconds?: number;
  /** Field problems for `body_invalid` (names and rules, never values). */
  readonly issues?: ReadonlyArray<{ readonly field: string; readonly message: string }>;
  /** Name of the thrown error for `network_error` (`TypeError` when the browser blocks it). */
  readonly errorName?: string;
}

export type TokenResult =
  | { readonly ok: true; readonly token: IssuedToken; readonly traceId: string; readonly rateLimit?: RateLimitInfo }
  | { readonly ok: false; readonly failure: TokenFailure; readonly traceId: string; readonly rateLimit?: RateLimitInfo };

export interface RequestTokenOptions {
  /** Absolute or same-origin URL of the token endpoint. */
  readonly url: string;
  /** Bearer credential (development JWT or Clerk session token); omitted when null. */
  readonly credential: string | null;
  readonly body: TokenRequestBody;
  readonly fetchImpl?: typeof fetch;
  readonly signal?: AbortSignal;
}

const TRACE_ID = /^[0-9a-f]{32}$/;

function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A fresh W3C trace context. The server adopts its trace id, so the page can
 * show one for support even when the request never arrives.
 * https://www.w3.org/TR/trace-context/#traceparent-header
 */
export function newTraceparent(): { traceId: string; header: string } {
  const traceId = randomHex(16);
  return { traceId, header: `00-${traceId}-${randomHex(8)}-01` };
}

function wholeNumber(text: string | null): number | undefined {
  if (text === null || !/^\d{1,10}$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

/** Reads `X-RateLimit-*` (exposed to cross-origin callers by the CORS middleware). */
export function readRateLimit(headers: Headers): RateLimitInfo | undefined {
  const limit = wholeNumber(headers.get('x-ratelimit-limit'));
  const remaining = wholeNumber(headers.get('x-ratelimit-remaining'));
  if (limit === undefined || remaining === undefined) return undefined;
  return { limit, remaining, resetAt: wholeNumber(headers.get('x-ratelimit-reset')) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readToken(body: unknown): IssuedToken | undefined {
  if (!isRecord(body) || typeof body.value !== 'string' || typeof body.expires_at !== 'number') return undefined;
  const session = isRecord(body.session) ? body.session : {};
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    value: body.value,
    expiresAt: body.expires_at,
    sessionId: text(session.id),
    model: text(session.model),
    voice: text(session.voice),
  };
}

function readIssues(body: Record<string, unknown>): TokenFailure['issues'] {
  if (!Array.isArray(body.issues)) return undefined;
  return body.issues
    .filter(isRecord)
    .map((i) => ({ field: String(i.field ?? ''), message: String(i.message ?? '') }))
    .slice(0, 10);
}

/** A JSON answer read in full: the body (undefined when not JSON), its trace id and rate-limit state. */
export type JsonAnswer =
  | { readonly ok: true; readonly res: Response; readonly body: unknown; readonly traceId: string; readonly rateLimit?: RateLimitInfo }
  | { readonly ok: false; readonly failure: TokenFailure; readonly traceId: string };

/**
 * Sends one request to the server with the credential and a fresh trace
 * context; a network failure, a refused preflight or an abort is a value.
 */
export async function sendJson(
  url: string,
  init: { method: string; credential: string | null; body?: unknown; fetchImpl?: typeof fetch; signal?: AbortSignal; keepalive?: boolean },
): Promise<JsonAnswer> {
  const fetchImpl = init.fetchImpl ?? fetch;
  const trace = newTraceparent();
  const headers: Record<string, string> = { traceparent: trace.header };
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  if (init.credential) headers.Authorization = `Bearer ${init.credential}`;

  let res: Response;
  try {
    res = await fetchImpl(url, {
      method: init.method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      cache: 'no-store',
      redirect: 'error',
      signal: init.signal,
      keepalive: init.keepalive,
    });
  } catch (error) {
    const errorName = error instanceof Error ? error.name : 'Error';
    return { ok: false, traceId: trace.traceId, failure: { status: 0, code: 'network_error', errorName } };
  }
  const headerTrace = res.headers.get('x-trace-id');
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const bodyTrace = isRecord(body) && typeof body.traceId === 'string' ? body.traceId : null;
  const traceId = [bodyTrace, headerTrace].find((t): t is string => t !== null && TRACE_ID.test(t)) ?? trace.traceId;
  return { ok: true, res, body, traceId, rateLimit: readRateLimit(res.headers) };
}

/** The failure value of an answer that is not the expected success: the server's code, Retry-After, field issues. */
export function failureOf(res: Response, body: unknown): TokenFailure {
  const code = isRecord(body) && typeof body.error === 'string' ? body.error : 'unknown_error';
  const retryAfterSeconds = wholeNumber(res.headers.get('retry-after'));
  return {
    status: res.status,
    code,
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    ...(isRecord(body) ? { issues: readIssues(body) } : {}),
  };
}

/**
 * Asks the server for an ephemeral key.
 * @returns the key with its expiry and rate-limit state, or a failure value
 */
export async function requestToken(options: RequestTokenOptions): Promise<TokenResult> {
  const answer = await sendJson(options.url, { method: 'POST', credential: options.credential, body: options.body, fetchImpl: options.fetchImpl, signal: options.signal });
  if (!answer.ok) return answer;
  const { res, body, traceId, rateLimit } = answer;
  if (res.status === 200) {
    const token = readToken(body);
    if (token) return { ok: true, token, traceId, rateLimit };
    return { ok: false, traceId, rateLimit, failure: { status: res.status, code: 'bad_response' } };
  }
  return { ok: false, traceId, rateLimit, failure: failureOf(res, body) };
}
