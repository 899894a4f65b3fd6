import { z } from 'zod';
import type { RatePolicy } from '../limits/store';

/**
 * Settings of the server-side calls path (app/api/realtime/calls): the
 * variables, their rules and defaults, spread into `envSchema`
 * (lib/config/schema.ts), and the `config.calls` block built from them.
 */

export type RealtimeMode = 'ephemeral' | 'calls' | 'both';
export type OverridePolicy = 'restore' | 'hangup';

/** The calls route's own body cap: an SDP offer with its candidates, JSON-escaped. */
export const CALLS_MAX_BODY_BYTES = 64 * 1024;

/** A Realtime session lasts at most 60 minutes (openai-node `src/resources/realtime/realtime.ts`). */
const MAX_CALL_SECONDS = 3600;

type Optional = z.ZodType<string | undefined, string | undefined>;
type IntIn = (min: number, max: number, fallback: number) => z.ZodType<number, string | undefined>;

/**
 * The variables, built with the schema's own field rules (passed in, so this
 * module does not import lib/config/schema.ts, which spreads these into the
 * one `envSchema`).
 */
export function callsEnv(optional: Optional, intIn: IntIn) {
  const oneOf = <T extends string>(values: readonly [T, ...T[]], fallback: T) =>
    optional.pipe(z.enum(values, { error: `must be one of: ${values.join(', ')}` }).optional().transform((v): T => v ?? fallback));
  return {
    REALTIME_MODE: oneOf(['ephemeral', 'calls', 'both'], 'both'),
    CALL_MAX_SECONDS: intIn(1, MAX_CALL_SECONDS, 900),
    CALLS_MAX_CONCURRENT: intIn(1, 100, 2),
    CALL_MINUTES_PER_DAY: intIn(1, 1440, 60),
    CALL_OVERRIDE_POLICY: oneOf(['restore', 'hangup'], 'restore'),
  };
}

type CallsEnv = { [K in keyof ReturnType<typeof callsEnv>]: z.output<ReturnType<typeof callsEnv>[K]> };

export interface CallsConfig {
  readonly mode: RealtimeMode;
  readonly maxSeconds: number;
  /** Concurrent calls per user: a slot reserved for up to `maxSeconds` (+ grace), released at hang-up. */
  readonly concurrency: RatePolicy;
  /** Call seconds per user in any 24 hours. */
  readonly minutes: RatePolicy;
  /** The shortest call worth opening: fewer seconds left than this is `minutes_exhausted`. */
  readonly minSeconds: number;
  readonly overridePolicy: OverridePolicy;
  readonly maxBodyBytes: number;
}

/** A slot outlives its call's deadline by this much, so the hang-up at the deadline still holds it. */
export const SLOT_GRACE_SECONDS = 30;

export function callsConfig(e: CallsEnv): CallsConfig {
  return {
    mode: e.REALTIME_MODE,
    maxSeconds: e.CALL_MAX_SECONDS,
    concurrency: { name: 'calls', limit: e.CALLS_MAX_CONCURRENT, windowMs: (e.CALL_MAX_SECONDS + SLOT_GRACE_SECONDS) * 1000 },
    minutes: { name: 'call_seconds', limit: e.CALL_MINUTES_PER_DAY * 60, windowMs: 86_400_000 },
    minSeconds: Math.min(10, e.CALL_MAX_SECONDS),
    overridePolicy: e.CALL_OVERRIDE_POLICY,
    maxBodyBytes: CALLS_MAX_BODY_BYTES,
  };
}

/** `REALTIME_MODE` serves the token route (ephemeral keys): `ephemeral` or `both`; otherwise it answers 404. */
export const servesTokens = (config: { readonly calls: CallsConfig }): boolean => config.calls.mode !== 'calls';

/** `REALTIME_MODE` serves the calls routes: `calls` or `both`; otherwise they answer 404. */
export const servesCalls = (config: { readonly calls: CallsConfig }): boolean => config.calls.mode !== 'ephemeral';
