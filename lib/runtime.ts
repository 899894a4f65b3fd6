import { loadConfig, type AppConfig } from './config';
import { configWarnings } from './config/warnings';
import { createAlerter, type Alerter } from './alerts';
import { createDenyLists, type DenyLists } from './deny-file';
import { loadGeoDatabase, type GeoLookup } from './geo';
import { MemoryRateLimitStore } from './limits/memory';
import { RedisRateLimitStore } from './limits/redis';
import { ResilientRateLimitStore } from './limits/resilient';
import type { ObservationStore } from './limits/observations';
import type { Clock, RateLimitStore } from './limits/store';
import { createMetrics, meteredFetch, type Metrics } from './metrics';
import { observedLogger } from './observed-logger';
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
  /** The anomaly detectors' state: the limiter store itself (lib/limits/observations.ts). */
  readonly observations: ObservationStore;
  /** The IP-to-country database, loaded once when geography is on. */
  readonly geo: GeoLookup | undefined;
  /** The deny list in force (re-read on SIGHUP with `DENY_LIST_FILE`). */
  readonly deny: DenyLists;
  /** This runtime's Prometheus registry and series (lib/metrics.ts); never prom-client's global one. */
  readonly metrics: Metrics;
  /** The alert webhook (lib/alerts.ts) when `ALERT_WEBHOOK_URL` is set. */
  readonly alerts: Alerter | undefined;
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
  const metrics = parts.metrics ?? createMetrics();
  const alerts = parts.alerts ?? alerterFor(config, metrics);
  // Every line of every layer is counted (and a critical one alerted) here, once.
  const logger = observedLogger(parts.logger ?? getSecurityLogger(), metrics, alerts);
  const startup = { traceId: traceIdFrom(null) };
  for (const warning of configWarnings(config)) {
    logger.log('warn', 'config_error', warning.message, startup, { variable: warning.variable, ...warning.detail });
  }
  const store = parts.store ?? createStore(config, logger, parts.now);
  // Duck-typed like lib/health.ts: the resilient store reports its state.
  metrics.trackDegraded(() => (store as { state?: string }).state === 'redis-degraded');
  return {
    config,
    store,
    observations: parts.observations ?? (isObservationStore(store) ? store : new MemoryRateLimitStore({ maxKeys: config.rateLimitMaxKeys, now: parts.now })),
    geo: parts.geo ?? (config.geo ? loadGeoDatabase() : undefined),
    deny: parts.deny ?? createDenyLists(config, logger),
    logger,
    // Every upstream call goes through this fetch (lib/upstream.ts): timed once, here.
    fetch: meteredFetch(parts.fetch ?? ((input, init) => fetch(input, init)), metrics),
    now: parts.now ?? Date.now,
    metrics,
    alerts,
  };
}

function alerterFor(config: AppConfig, metrics: Metrics): Alerter | undefined {
  const { webhookUrl, timeoutMs, minIntervalMs } = config.alerts;
  if (webhookUrl === undefined) return undefined;
  return createAlerter({ url: webhookUrl, timeoutMs, minIntervalMs, count: (outcome) => metrics.alert(outcome) });
}

/**
 * The limiter store for `config`: with Redis (`REDIS_URL`, `REDIS_CLUSTER_NODES`
 * or `REDIS_SENTINELS`, lib/config/redis.ts), shared by every
 * instance, falling back to per-process memory while Redis fails; without
 * it, memory only.
 */
export function createStore(config: AppConfig, logger: SecurityLogger, now?: Clock): RateLimitStore & ObservationStore {
  const memory = new MemoryRateLimitStore({ maxKeys: config.rateLimitMaxKeys, sweepIntervalMs: config.rateLimitSweepMs, now });
  if (config.redis === undefined) return memory;
  const redis = new RedisRateLimitStore({ connection: config.redis, prefix: config.rateLimitPrefix, timeoutMs: config.redisTimeoutMs });
  return new ResilientRateLimitStore({ primary: redis, fallback: memory, logger, now });
}

// Duck-typed: an injected store (tests) may implement the limits only.
function isObservationStore(store: RateLimitStore): store is RateLimitStore & ObservationStore {
  return typeof (store as Partial<ObservationStore>).distinct === 'function' && typeof (store as Partial<ObservationStore>).trend === 'function';
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
