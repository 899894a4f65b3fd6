import { z } from 'zod';
import { parseJson, sendUpstream, upstreamFailure, UpstreamError } from './upstream';
import type { TokenRequest } from './validation';

export { UpstreamError, type UpstreamFailureCode } from './upstream';

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

export interface OpenAIClientOptions {
  readonly apiKey: string;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly ttlSeconds: number;
  readonly fetch?: typeof fetch;
}

const successSchema = z.object({
  value: z.string().min(1).max(4096),
  expires_at: z.number().int().positive(),
  session: z
    .object({
      id: z.string().min(1).max(256).optional(),
      model: z.string().max(128).optional(),
      audio: z.object({ output: z.object({ voice: z.string().max(64).optional() }).optional() }).optional(),
    })
    .optional(),
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
  if (status === 200) {
    const parsed = successSchema.safeParse(parseJson(answer.text));
    if (!parsed.success) throw new UpstreamError('upstream_error', { status, reason: 'unexpected success body' });
    const { value, expires_at, session } = parsed.data;
    return {
      value,
      expires_at,
      session: {
        id: session?.id ?? '',
        model: session?.model ?? request.model,
        voice: session?.audio?.output?.voice ?? request.voice,
      },
    };
  }

  throw upstreamFailure(answer, 'session request');
}
