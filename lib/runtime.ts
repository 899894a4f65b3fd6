import { getConfig, type AppConfig } from './config';
import { MemoryRateLimitStore, type RateLimitStore } from './rate-limit';
import { getSecurityLogger, type SecurityLogger } from './security-logger';
import { createTokenRequestSchema, type TokenRequestSchema } from './validation';

/**
 * Everything a request needs that is built once per process: configuration,
 * the limiter store, the logger, the request schema and the outbound fetch.
 * Held on `globalThis` because Next bundles each route and the middleware
 * separately, and one process must share one limiter state.
 */
export interface Runtime {
  readonly config: AppConfig;
  readonly store: RateLimitStore;
  readonly logger: SecurityLogger;
  readonly schema: TokenRequestSchema;
  readonly fetch: typeof fetch;
  readonly now: () => number;
}

const RUNTIME_KEY = Symbol.for('realtime-token-guard.runtime');
type RuntimeHolder = { [RUNTIME_KEY]?: Runtime };

/** Builds a runtime from parts; tests inject a logger sink, a clock or a store. */
export function createRuntime(parts: Partial<Runtime> & { config: AppConfig }): Runtime {
  const { config } = parts;
  return {
    config,
    store:
      parts.store ??
      new MemoryRateLimitStore({
        maxKeys: config.rateLimitMaxKeys,
        sweepIntervalMs: config.rateLimitSweepMs,
        now: parts.now,
      }),
    logger: parts.logger ?? getSecurityLogger(),
    schema: parts.schema ?? createTokenRequestSchema(config),
    fetch: parts.fetch ?? ((input, init) => fetch(input, init)),
    now: parts.now ?? Date.now,
  };
}

/** The process-wide runtime, created on first use from the environment. */
export function getRuntime(): Runtime {
  const holder = globalThis as RuntimeHolder;
  return (holder[RUNTIME_KEY] ??= createRuntime({ config: getConfig() }));
}

/** Replaces the process-wide runtime (tests and embedding servers); returns the old one. */
export function setRuntime(runtime: Runtime | undefined): Runtime | undefined {
  const holder = globalThis as RuntimeHolder;
  const previous = holder[RUNTIME_KEY];
  if (runtime === undefined) delete holder[RUNTIME_KEY];
  else holder[RUNTIME_KEY] = runtime;
  return previous;
}
