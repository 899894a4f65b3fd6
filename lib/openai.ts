import { z } from 'zod';
import { BodyTooLargeError, decodeUtf8, readCapped } from './body';
import type { TokenRequest } from './validation';

/**
 * The one outbound call: mint a Realtime ephemeral key with the GA
 * `POST /v1/realtime/client_secrets` endpoint. Shaped like jose's fetchJwks:
 * injectable fetch, a deadline, no redirects, an exact status check, typed
 * errors. The upstream body is parsed against an allowlist and never relayed.
 */

export interface EphemeralKey {
  readonly value: string;
  readonly expires_at: number;
  readonly session: { readonly id: string; readonly model: string; readonly voice: string };
}

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

export interface OpenAIClientOptions {
  readonly apiKey: string;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly ttlSeconds: number;
  readonly fetch?: typeof fetch;
  /**
   * Wall clock for the `expires_at` check (default `Date.now`). It is compared
   * with OpenAI's clock, so it is not the runtime's limiter clock.
   */
  readonly now?: () => number;
}

const MAX_UPSTREAM_BYTES = 256 * 1024;

// What a 200 must look like before anything reaches the browser: a misbehaving
// upstream or proxy must not be able to hand the client another kind of
// secret (an `sk-…` key) or a key that outlives the lifetime the server chose.
// The GA endpoint's keys are `ek_` + 32 hex today; the bound leaves room.
const EPHEMERAL_KEY = /^ek_[A-Za-z0-9_-]{16,256}$/;
const SESSION_ID = /^sess_[A-Za-z0-9_-]{1,128}$/;
/** Clock difference tolerated between this server and OpenAI, in seconds. */
export const EXPIRY_SKEW_SECONDS = 30;

const successSchema = z.object({
  value: z.string().regex(EPHEMERAL_KEY),
  expires_at: z.number().int(),
  session: z.object({
    id: z.string().regex(SESSION_ID),
    model: z.string().max(128).optional(),
    audio: z.object({ output: z.object({ voice: z.string().max(64).optional() }).optional() }).optional(),
  }),
});

// OpenAI error bodies: {"error":{"message","type","code","param"}}. Only type
// and code are kept, for logs; message can echo user input.
const errorSchema = z.object({
  error: z.object({ type: z.string().max(100).nullish(), code: z.string().max(100).nullish() }),
});

/**
 * Requests one ephemeral key.
 * @throws {UpstreamError} for every failure; never returns partial data
 */
export async function createEphemeralKey(request: TokenRequest, options: OpenAIClientOptions): Promise<EphemeralKey> {
  const doFetch = options.fetch ?? fetch;
  const body = {
    expires_after: { anchor: 'created_at', seconds: options.ttlSeconds },
    session: {
      type: 'realtime',
      model: request.model,
      ...(request.instructions ? { instructions: request.instructions } : {}),
      audio: { output: { voice: request.voice } },
    },
  };

  let response: Response;
  let text: string | undefined;
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    response = await doFetch(`${options.baseUrl}/realtime/client_secrets`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${options.apiKey}`,
        'Content-Type': 'application/json',
        Accept: 'application/json',
      },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal,
      cache: 'no-store',
    });
    text = decodeUtf8(await readCapped(response.body, MAX_UPSTREAM_BYTES));
  } catch (error) {
    if (signal.aborted) {
      throw new UpstreamError('upstream_timeout', { reason: `no answer within ${options.timeoutMs} ms` });
    }
    if (error instanceof BodyTooLargeError) {
      throw new UpstreamError('upstream_error', { reason: 'upstream body too large' });
    }
    throw new UpstreamError('upstream_error', { reason: `network error: ${errorName(error)}` });
  }

  const status = response.status;
  const json = parseJson(text);
  if (status === 200) {
    const parsed = successSchema.safeParse(json);
    if (!parsed.success) {
      // Field names only: the values may be secrets.
      const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(body)'))].join(', ');
      throw new UpstreamError('upstream_error', { status, reason: `success body is not an ephemeral key (${fields})` });
    }
    const { value, expires_at, session } = parsed.data;
    const nowSeconds = Math.floor((options.now ?? Date.now)() / 1000);
    if (expires_at < nowSeconds || expires_at > nowSeconds + options.ttlSeconds + EXPIRY_SKEW_SECONDS) {
      throw new UpstreamError('upstream_error', { status, reason: 'success body expires_at is outside [now, now + TTL]' });
    }
    return {
      value,
      expires_at,
      session: {
        id: session.id,
        model: session.model ?? request.model,
        voice: session.audio?.output?.voice ?? request.voice,
      },
    };
  }

  const err = errorSchema.safeParse(json);
  const detail = {
    status,
    errorType: err.success ? (err.data.error.type ?? undefined) : undefined,
    errorCode: err.success ? (err.data.error.code ?? undefined) : undefined,
  };
  if (status === 429 || detail.errorCode === 'insufficient_quota') {
    const retryAfter = Number(response.headers.get('retry-after'));
    const seconds = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(Math.ceil(retryAfter), 3600) : 30;
    throw new UpstreamError('upstream_rate_limited', { ...detail, reason: 'upstream rate limit or quota' }, seconds);
  }
  if (status === 401 || status === 403) {
    throw new UpstreamError('upstream_auth', { ...detail, reason: 'upstream refused the server API key' });
  }
  if (status >= 400 && status < 500) {
    throw new UpstreamError('upstream_rejected', { ...detail, reason: 'upstream rejected the session request' });
  }
  throw new UpstreamError('upstream_error', { ...detail, reason: `unexpected upstream status ${status}` });
}

function parseJson(text: string | undefined): unknown {
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
