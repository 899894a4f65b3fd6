import { loadConfig, type AppConfig } from './config';
import { configWarnings } from './config/warnings';
import { MemoryRateLimitStore } from './limits/memory';
import { RedisRateLimitStore } from './limits/redis';
import { ResilientRateLimitStore } from './limits/resilient';
import type { Clock, RateLimitStore } from './limits/store';
import { getSecurityLogger, traceIdFrom, type SecurityLogger } from './security-logger';

/**
 * Everything a request needs that is built once per process: configuration,
 * the limiter store, the logger, the outbound fetch and the clock.
 *
 * {@link getRuntime} is the one accessor: routes, the middleware, pages, the
 * health route and the front door all call it, so a test that injects a
 * runtime with {@link setRuntime} reaches every layer. It is held on
 * `globalThis` because Next bundles each route and the middleware separately
 * (and the front door is bundled apart from Next), and one process must share
 * one limiter state.
 */
export interface Runtime {
  readonly config: AppConfig;
  readonly store: RateLimitStore;
  readonly logger: SecurityLogger;
  readonly fetch: typeof fetch;
  readonly now: () => number;
}

const RUNTIME_KEY = Symbol.for('realtime-token-guard.runtime');
type RuntimeHolder = { [RUNTIME_KEY]?: Runtime };

/**
 * Builds a runtime from parts; tests inject a logger sink, a clock or a store.
 * Logs each configuration warning (lib/config/warnings.ts) once, here: a
 * process creates one runtime.
 */
export function createRuntime(parts: Partial<Runtime> & { config: AppConfig }): Runtime {
  const { config } = parts;
  const logger = parts.logger ?? getSecurityLogger();
  const startup = { traceId: traceIdFrom(null) };
  for (const warning of configWarnings(config)) {
    logger.log('warn', 'config_error', warning.message, startup, { variable: warning.variable, ...warning.detail });
  }
  return {
    config,
    store: parts.store ?? createStore(config, logger, parts.now),
    logger,
    fetch: parts.fetch ?? ((input, init) => fetch(input, init)),
    now: parts.now ?? Date.now,
  };
}

/**
 * The limiter store for `config`: with `REDIS_URL`, Redis shared by every
 * instance, falling back to per-process memory while Redis fails; without
 * it, memory only.
 */
export function createStore(config: AppConfig, logger: SecurityLogger, now?: Clock): RateLimitStore {
  const memory = new MemoryRateLimitStore({ maxKeys: config.rateLimitMaxKeys, sweepIntervalMs: config.rateLimitSweepMs, now });
  if (config.redisUrl === undefined) return memory;
  const redis = new RedisRateLimitStore({ url: config.redisUrl, prefix: config.rateLimitPrefix, timeoutMs: config.redisTimeoutMs });
  return new ResilientRateLimitStore({ primary: redis, fallback: memory, logger, now });
}

/**
 * The process-wide runtime, created on first use from the environment.
 * @throws {ConfigError} when the environment is invalid (nothing is cached then)
 */
export function getRuntime(): Runtime {
  const holder = globalThis as RuntimeHolder;
  return (holder[RUNTIME_KEY] ??= createRuntime({ config: loadConfig() }));
}

/** Replaces the process-wide runtime (tests and embedding servers); returns the old one. */
export function setRuntime(runtime: Runtime | undefined): Runtime | undefined {
  const holder = globalThis as RuntimeHolder;
  const previous = holder[RUNTIME_KEY];
  if (runtime === undefined) delete holder[RUNTIME_KEY];
  else holder[RUNTIME_KEY] = runtime;
  return previous;
}
