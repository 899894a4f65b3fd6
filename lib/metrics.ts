import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ERRORS, type ErrorCode } from './errors';
import type { RateLimitResult } from './limits/store';
import { SECURITY_EVENTS, type LogLevel, type SecurityEvent } from './security-logger';

/**
 * Prometheus metrics of one runtime (README "Metrics and alerts"), served by
 * GET /api/metrics. Each runtime has its own `Registry`, never prom-client's
 * global one, so runtimes built by tests share no counters.
 *
 * Every label value comes from a fixed set: event names and levels
 * (lib/security-logger.ts), catalog codes (lib/errors.ts), policy names from
 * the configuration, endpoint and outcome names below. Nothing a request
 * controls (user id, IP, origin, path) ever becomes a label: it would leak
 * who uses the service and let a client grow the output without bound
 * (https://prometheus.io/docs/practices/naming/#labels).
 */

/** Upstream endpoints, matched on the URL path (lib/openai.ts, lib/calls/realtime.ts, lib/calls/live.ts). */
const ENDPOINTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\/realtime\/client_secrets$/, 'client_secrets'],
  [/\/realtime\/calls$/, 'realtime_calls'],
  [/\/realtime\/calls\/[^/]+\/hangup$/, 'realtime_hangup'],
  [/\/live\/sessions$/, 'live_sessions'],
  [/\/live\/sessions\/[^/]+\/hangup$/, 'live_hangup'],
];

/** What happened to one alert POST (lib/alerts.ts). */
export type AlertOutcome = 'sent' | 'failed' | 'timeout' | 'error' | 'suppressed' | 'dropped';

/** Policy names are configuration, not input; this bound is a second line should that ever change. */
const MAX_POLICIES = 64;
const EVENTS = new Set<string>(SECURITY_EVENTS);
const LEVELS = new Set<string>(['info', 'warn', 'error', 'critical']);
const POLICY_NAME = /^[a-z0-9_]{1,64}$/;

export interface Metrics {
  readonly registry: Registry;
  securityEvent(level: LogLevel, event: SecurityEvent): void;
  refusal(code: ErrorCode): void;
  limiterDecision(result: RateLimitResult): void;
  /** Records one upstream answer (or failure) that took `seconds`. */
  upstream(url: string, outcome: string, seconds: number): void;
  alert(outcome: AlertOutcome): void;
  /** Where the degraded gauge reads from: the runtime's store (lib/limits/resilient.ts `state`). */
  trackDegraded(degraded: () => boolean): void;
  /** Where the active-calls gauge reads from (the runtime's call supervisor, lib/calls/index.ts). */
  trackActiveCalls(count: () => number): void;
  /** The exposition text; its content type is `registry.contentType`. */
  render(): Promise<string>;
}

/** A fresh registry with this service's series. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const events = new Counter({ name: 'rtg_security_events_total', help: 'Security log events by event and level.', labelNames: ['event', 'level'], registers });
  const refusals = new Counter({ name: 'rtg_refusals_total', help: 'Requests refused, by error code (lib/errors.ts).', labelNames: ['code'], registers });
  const decisions = new Counter({
    name: 'rtg_limiter_decisions_total',
    help: 'Limiter checks by policy and outcome (allowed, limited, store_full).',
    labelNames: ['policy', 'outcome'],
    registers,
  });
  const latency = new Histogram({
    name: 'rtg_upstream_duration_seconds',
    help: 'Time to the upstream answer headers (or the failure), by endpoint and outcome.',
    labelNames: ['endpoint', 'outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers,
  });
  const alerts = new Counter({ name: 'rtg_alerts_total', help: 'Alert webhook deliveries by outcome.', labelNames: ['outcome'], registers });
  let degraded: () => boolean = () => false;
  new Gauge({
    name: 'rtg_limiter_store_degraded',
    help: '1 while the shared limiter store fails and limits apply per instance in memory.',
    registers,
    collect() {
      this.set(degraded() ? 1 : 0);
    },
  });
  let activeCalls: () => number = () => 0;
  new Gauge({
    name: 'rtg_active_calls',
    help: 'Calls this instance supervises right now.',
    registers,
    collect() {
      this.set(activeCalls());
    },
  });
  const policies = new Set<string>();

  return {
    registry,
    securityEvent(level, event) {
      events.inc({ event: EVENTS.has(event) ? event : 'other', level: LEVELS.has(level) ? level : 'other' });
    },
    refusal(code) {
      refusals.inc({ code: Object.prototype.hasOwnProperty.call(ERRORS, code) ? code : 'other' });
    },
    limiterDecision(result) {
      let policy = result.policy.name;
      if (!POLICY_NAME.test(policy) || (!policies.has(policy) && policies.size >= MAX_POLICIES)) policy = 'other';
      else policies.add(policy);
      decisions.inc({ policy, outcome: result.reason });
    },
    upstream(url, outcome, seconds) {
      latency.observe({ endpoint: endpointOf(url), outcome }, seconds);
    },
    alert(outcome) {
      alerts.inc({ outcome });
    },
    trackDegraded(source) {
      degraded = source;
    },
    trackActiveCalls(count) {
      activeCalls = count;
    },
    render: () => registry.metrics(),
  };
}

/** The fixed endpoint name of an upstream URL; `other` for anything unknown. */
export function endpointOf(url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return 'other';
  }
  return ENDPOINTS.find(([pattern]) => pattern.test(path))?.[1] ?? 'other';
}

/**
 * `fetch` that times each upstream call into `metrics`: outcome `2xx`…`5xx`
 * by status class, `timeout` when the caller's deadline fired, else `error`.
 * Every upstream call goes through the runtime's fetch (lib/upstream.ts), so
 * wrapping it once covers them all.
 */
export function meteredFetch(inner: typeof fetch, metrics: Metrics, clock: () => number = () => performance.now()): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const started = clock();
    const seconds = () => (clock() - started) / 1000;
    try {
      const response = await inner(input, init);
      metrics.upstream(url, `${Math.min(5, Math.max(1, Math.floor(response.status / 100)))}xx`, seconds());
      return response;
    } catch (error) {
      metrics.upstream(url, init?.signal?.aborted ? 'timeout' : 'error', seconds());
      throw error;
    }
  };
}
