import type { AppConfig } from '../config';
import type { ErrorCode } from '../errors';
import type { Ctx } from './context';

/**
 * One control of a route. A factory builds it once per configuration (every
 * per-process value is computed there, as hono's `cors()` precomputes its
 * headers); `run` does only per-request work and either answers (a Response:
 * the first answer wins) or lets the request through (undefined).
 */
export interface Guard {
  /** Stable name: logs, the validator and the order test use it. */
  readonly name: string;
  /** Every code this guard can refuse with (the validator and the docs read this). */
  readonly refuses: readonly ErrorCode[];
  run(ctx: Ctx): Promise<Response | undefined>;
}

export type GuardFactory = (config: AppConfig) => Guard;
