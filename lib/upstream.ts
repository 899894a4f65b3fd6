import { z } from 'zod';
import { BodyTooLargeError, decodeUtf8, readCapped } from './body';

/**
 * What every call to OpenAI shares (lib/openai.ts mints keys, lib/calls/*
 * places and ends calls), shaped like jose's fetchJwks: an injectable fetch,
 * a deadline, no redirects, a capped read, and typed errors. Failure answers
 * map to the catalog's upstream codes here, once; no upstream text is kept.
 */

export type UpstreamFailureCode =
  | 'upstream_error'
  | 'upstream_timeout'
  | 'upstream_auth'
  | 'upstream_rejected'
  | 'upstream_rate_limited';

/** A failed upstream call; `detail` is for logs only and holds no upstream text. */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    readonly code: UpstreamFailureCode,
    readonly detail: { status?: number; errorType?: string; errorCode?: string; reason: string },
    /** Seconds the client should wait, for rate-limited answers. */
    readonly retryAfterSeconds?: number,
  ) {
    super(`${code}: ${detail.reason}`);
  }
}

/** An upstream answer, read in full within the byte cap. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: Headers;
  /** The body as UTF-8, or undefined when it is not valid UTF-8. */
  readonly text: string | undefined;
}

export interface UpstreamRequest {
  readonly fetch?: typeof fetch;
  readonly timeoutMs: number;
  /** Largest body read (default 256 KiB). */
  readonly maxBytes?: number;
}

const MAX_UPSTREAM_BYTES = 256 * 1024;

/**
 * Sends one request: `redirect: 'manual'` (a 3xx is an answer, never followed
 * with the server key), one deadline for connect, headers and body.
 * @throws {UpstreamError} `upstream_timeout` past the deadline, `upstream_error` for network errors and oversized bodies
 */
export async function sendUpstream(url: string, init: RequestInit, options: UpstreamRequest): Promise<UpstreamAnswer> {
  const doFetch = options.fetch ?? fetch;
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const response = await doFetch(url, { ...init, redirect: 'manual', signal, cache: 'no-store' });
    const text = decodeUtf8(await readCapped(response.body, options.maxBytes ?? MAX_UPSTREAM_BYTES));
    return { status: response.status, headers: response.headers, text };
  } catch (error) {
    if (signal.aborted) throw new UpstreamError('upstream_timeout', { reason: `no answer within ${options.timeoutMs} ms` });
    if (error instanceof BodyTooLargeError) throw new UpstreamError('upstream_error', { reason: 'upstream body too large' });
    throw new UpstreamError('upstream_error', { reason: `network error: ${errorName(error)}` });
  }
}

// OpenAI error bodies: {"error":{"message","type","code","param"}}. Only type
// and code are kept, for logs; message can echo user input.
const errorSchema = z.object({
  error: z.object({ type: z.string().max(100).nullish(), code: z.string().max(100).nullish() }),
});

/**
 * The typed error for an answer that is not the expected success: 429 or
 * `insufficient_quota` → rate limited (with Retry-After), 401/403 → the
 * server key was refused, other 4xx → rejected, anything else → upstream error.
 */
export function upstreamFailure(answer: UpstreamAnswer, what: string): UpstreamError {
  const { status } = answer;
  const err = errorSchema.safeParse(parseJson(answer.text));
  const detail = {
    status,
    errorType: err.success ? (err.data.error.type ?? undefined) : undefined,
    errorCode: err.success ? (err.data.error.code ?? undefined) : undefined,
  };
  if (status === 429 || detail.errorCode === 'insufficient_quota') {
    const retryAfter = Number(answer.headers.get('retry-after'));
    const seconds = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(Math.ceil(retryAfter), 3600) : 30;
    return new UpstreamError('upstream_rate_limited', { ...detail, reason: 'upstream rate limit or quota' }, seconds);
  }
  if (status === 401 || status === 403) return new UpstreamError('upstream_auth', { ...detail, reason: 'upstream refused the server API key' });
  if (status >= 400 && status < 500) return new UpstreamError('upstream_rejected', { ...detail, reason: `upstream rejected the ${what}` });
  return new UpstreamError('upstream_error', { ...detail, reason: `unexpected upstream status ${status}` });
}

/** JSON of an upstream body, or undefined. */
export function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorName(error: unknown): string {
  if (error && typeof error === 'object') {
    const cause = (error as { cause?: { code?: unknown } }).cause;
    if (cause && typeof cause.code === 'string') return cause.code;
  }
  return error instanceof Error ? error.name : 'unknown';
}
