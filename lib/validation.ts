import { z } from 'zod';
import type { AppConfig } from './config';

/**
 * Input validation and sanitization for the token request body.
 * Unknown fields are refused (never forwarded); values outside the
 * allowlists are refused; instructions are normalised before their length
 * is checked, so the limit applies to what reaches OpenAI.
 */

export const MAX_INSTRUCTIONS_CHARS = 2000;
/** Raw input bound, checked before sanitizing so the work per request stays small. */
const MAX_RAW_INSTRUCTIONS_CHARS = 8000;

export interface TokenRequest {
  readonly voice: string;
  readonly model: string;
  /** Sanitized; absent when empty after sanitizing. */
  readonly instructions?: string;
}

export interface ValidationIssue {
  readonly field: string;
  readonly message: string;
}

// Script elements in any case, with attributes, closed or not; applied until
// nothing changes so "<scr<script></script>ipt>" cannot reassemble one.
const SCRIPT_ELEMENT = /<script\b[^>]*>[\s\S]*?(<\/script\s*>|$)/gi;
const SCRIPT_TAG_FRAGMENT = /<\/?script\b[^>]*>?/gi;
// C0/C1 controls (whitespace handled separately), bidi controls, zero-width and
// other invisible format characters that can hide text from a reviewer.
const INVISIBLE = /[\u0000-\u0008\u000e-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;

/**
 * Normalises free-text instructions: NFC, lone surrogates replaced, invisible
 * and control characters removed, script elements removed (to a fixed point),
 * whitespace collapsed to single spaces and trimmed.
 */
export function sanitizeInstructions(input: string): string {
  let text = input.toWellFormed().normalize('NFC').replace(INVISIBLE, '');
  for (let previous = ''; previous !== text; ) {
    previous = text;
    text = text.replace(SCRIPT_ELEMENT, '').replace(SCRIPT_TAG_FRAGMENT, '');
  }
  return text.replace(/\s+/g, ' ').trim();
}

/** Number of user-perceived code points (surrogate pairs count once). */
function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Names unknown keys for the error message without reflecting arbitrary attacker text. */
function describeKeys(keys: readonly PropertyKey[]): string {
  const shown = keys.slice(0, 3).map((k) => (/^[A-Za-z0-9_.-]{1,32}$/.test(String(k)) ? String(k) : '(unprintable)'));
  return keys.length > 3 ? `${shown.join(', ')} and ${keys.length - 3} more` : shown.join(', ');
}

type SchemaConfig = Pick<AppConfig, 'voices' | 'models' | 'defaultVoice' | 'defaultModel'>;

/** The token request's fields against one configuration's allowlists. */
function tokenFields(config: SchemaConfig) {
  return {
    voice: z.enum(config.voices as [string, ...string[]], { error: `must be one of: ${config.voices.join(', ')}` }).optional(),
    model: z.enum(config.models as [string, ...string[]], { error: `must be one of: ${config.models.join(', ')}` }).optional(),
    instructions: z
      .string({ error: 'must be a string' })
      .max(MAX_RAW_INSTRUCTIONS_CHARS, { error: `must be at most ${MAX_INSTRUCTIONS_CHARS} characters` })
      .transform(sanitizeInstructions)
      .refine((v) => codePoints(v) <= MAX_INSTRUCTIONS_CHARS, {
        error: `must be at most ${MAX_INSTRUCTIONS_CHARS} characters`,
      })
      .optional(),
  };
}

const objectError = { error: (issue: { code: string; keys?: readonly PropertyKey[] }) => (issue.code === 'unrecognized_keys' ? `unknown field(s): ${describeKeys(issue.keys ?? [])}` : 'body must be a JSON object') };

/** The defaults filled in: what the rest of the route works with. */
function tokenRequestOf(config: SchemaConfig, body: { voice?: string; model?: string; instructions?: string }): TokenRequest {
  return {
    voice: body.voice ?? config.defaultVoice,
    model: body.model ?? config.defaultModel,
    ...(body.instructions ? { instructions: body.instructions } : {}),
  };
}

/** Builds the request schema for one configuration (once, at start). */
export function createTokenRequestSchema(config: SchemaConfig) {
  return z.strictObject(tokenFields(config), objectError).transform((body) => tokenRequestOf(config, body));
}

export type TokenRequestSchema = ReturnType<typeof createTokenRequestSchema>;

/** A call request (POST /api/realtime/calls): the token request's fields plus the SDP offer, checked as text by lib/sdp.ts. */
export interface CallRequest {
  readonly request: TokenRequest;
  readonly sdp: string;
}

/** The call request schema: the token fields, the same allowlists, plus `sdp`. */
export function createCallRequestSchema(config: SchemaConfig, maxSdpChars: number): z.ZodType<CallRequest, unknown> {
  const sdp = z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(maxSdpChars, { error: `must be at most ${maxSdpChars} characters` });
  return z.strictObject({ ...tokenFields(config), sdp }, objectError).transform((body) => ({ request: tokenRequestOf(config, body), sdp: body.sdp }));
}

/** Validates a parsed JSON body; issues name fields and never echo values. */
export function validateTokenRequest<T = TokenRequest>(
  schema: z.ZodType<T, unknown>,
  body: unknown,
): { ok: true; value: T } | { ok: false; issues: ValidationIssue[] } {
  const parsed = schema.safeParse(body);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.slice(0, 10).map((i) => ({
      field: i.path.length ? i.path.map(String).join('.') : '(body)',
      message: i.message,
    })),
  };
}
