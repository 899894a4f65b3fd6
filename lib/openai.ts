import { z } from 'zod';
import { parseJson, sendUpstream, upstreamFailure, UpstreamError } from './upstream';
import type { TokenRequest } from './validation';

export { UpstreamError, type UpstreamFailureCode } from './upstream';

/**
 * The token route's outbound call: mint a Realtime ephemeral key with the GA
 * `POST /v1/realtime/client_secrets` endpoint. Shaped like jose's fetchJwks:
 * injectable fetch, a deadline, no redirects, an exact status check, typed
 * errors (lib/upstream.ts). The upstream body is parsed against an allowlist
 * and never relayed.
 */

export interface EphemeralKey {
  readonly value: string;
  readonly expires_at: number;
  readonly session: { readonly id: string; readonly model: string; readonly voice: string };
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

/**
 * The server-chosen session settings: the allow-listed model and voice and the
 * sanitized instructions. The token route binds them to the key; the calls
 * route sends them as the call's `session` part (lib/calls/realtime.ts).
 */
export function sessionConfig(request: TokenRequest) {
  return {
    type: 'realtime',
    model: request.model,
    ...(request.instructions ? { instructions: request.instructions } : {}),
    audio: { output: { voice: request.voice } },
  } as const;
}

/**
 * Requests one ephemeral key.
 * @throws {UpstreamError} for every failure; never returns partial data
 */
export async function createEphemeralKey(request: TokenRequest, options: OpenAIClientOptions): Promise<EphemeralKey> {
  const body = { expires_after: { anchor: 'created_at', seconds: options.ttlSeconds }, session: sessionConfig(request) };
  const answer = await sendUpstream(
    `${options.baseUrl}/realtime/client_secrets`,
    {
      method: 'POST',
      headers: { Authorization: `Bearer ${options.apiKey}`, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
    },
    options,
  );

  const status = answer.status;
  if (status !== 200) throw upstreamFailure(answer, 'session request');
  const parsed = successSchema.safeParse(parseJson(answer.text));
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
