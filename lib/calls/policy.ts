import type { TokenRequest } from '../validation';

/**
 * What the server decides about a call's session, and how the supervisor
 * tells a client's override from it. A client holding the call may send
 * `session.update` over its data channel for any field but the model (and the
 * voice once audio has played), per openai-node `src/resources/realtime/realtime.ts`;
 * the supervisor watches `session.updated` on the sideband and compares the
 * fields below.
 */

/**
 * Instructions pinned when the user gave none: the supervisor must know the
 * value to restore, so a call never runs on whatever OpenAI's default or a
 * client's first update happened to be.
 */
export const DEFAULT_CALL_INSTRUCTIONS = 'You are a helpful voice assistant. Keep answers short and clear.';

/** The fields the server owns, with the values it chose. */
export interface PinnedSession {
  readonly model: string;
  readonly voice: string;
  readonly instructions: string;
  /** No tools: a client cannot give the model functions to call. */
  readonly tools: readonly unknown[];
  readonly tool_choice: string;
  /** Output limit per response ("inf" is OpenAI's default). */
  readonly max_output_tokens: number | 'inf';
  /** No tracing to a client-chosen workflow or group. */
  readonly tracing: null;
}

export type WatchedField = 'instructions' | 'tools' | 'tool_choice' | 'voice' | 'model' | 'max_output_tokens' | 'tracing';

export function pinnedSession(request: TokenRequest): PinnedSession {
  return {
    model: request.model,
    voice: request.voice,
    instructions: request.instructions ?? DEFAULT_CALL_INSTRUCTIONS,
    tools: [],
    tool_choice: 'auto',
    max_output_tokens: 'inf',
    tracing: null,
  };
}

/** The request with its instructions pinned: what the call is created with. */
export function pinnedRequest(request: TokenRequest): TokenRequest {
  return { ...request, instructions: request.instructions ?? DEFAULT_CALL_INSTRUCTIONS };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Field order is not meaning: compare objects by sorted keys. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value)) return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  return JSON.stringify(value ?? null);
}

/**
 * The watched fields of `session` (a `session.created`/`session.updated`
 * payload) that differ from `pinned`. A field the event leaves out is not a
 * difference; the names are returned, never the values.
 */
export function overriddenFields(session: unknown, pinned: PinnedSession): WatchedField[] {
  if (!isRecord(session)) return [];
  const output = isRecord(session.audio) && isRecord(session.audio.output) ? session.audio.output : {};
  const seen: Partial<Record<WatchedField, unknown>> = {};
  for (const field of ['instructions', 'tools', 'tool_choice', 'model', 'max_output_tokens', 'tracing'] as const) {
    if (field in session) seen[field] = session[field];
  }
  if ('voice' in output) seen.voice = output.voice;
  return (Object.keys(seen) as WatchedField[]).filter((field) => canonical(seen[field]) !== canonical(pinned[field]));
}

/** The `session.update` that puts every restorable field back (the model cannot change mid-session). */
export function restoreEvent(pinned: PinnedSession): Record<string, unknown> {
  return {
    type: 'session.update',
    session: {
      type: 'realtime',
      instructions: pinned.instructions,
      tools: pinned.tools,
      tool_choice: pinned.tool_choice,
      max_output_tokens: pinned.max_output_tokens,
      tracing: pinned.tracing,
      audio: { output: { voice: pinned.voice } },
    },
  };
}
