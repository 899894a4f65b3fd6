import { ERRORS } from './errors';
import type { AlertOutcome } from './metrics';
import type { SecurityEvent } from './security-logger';

/**
 * The alert webhook (`ALERT_WEBHOOK_URL`, README "Metrics and alerts"): one
 * JSON POST per `critical` event, at most one per kind per
 * `ALERT_MIN_INTERVAL_MS` (the next one says how many were held back).
 *
 * It must never hurt the request that triggered it: {@link Alerter.notify}
 * is synchronous and never throws; the POST runs on its own with a short
 * deadline (`AbortSignal.timeout`), is never retried (a failing receiver gets
 * one POST per kind per interval, not a storm), and at most `maxInFlight` run
 * at once: past that an alert is dropped and counted, not queued. Every
 * outcome is counted in `rtg_alerts_total` (lib/metrics.ts).
 *
 * The payload holds nothing a request controls and no secret: a fixed
 * summary per event instead of the log message (which may name an IP or a
 * user), the trace id to find the full log line, and only numbers and
 * fixed-vocabulary strings from the metadata. The webhook URL itself may hold
 * a token (Slack-style URLs do) and is never logged.
 */

export interface AlertEvent {
  readonly event: SecurityEvent;
  readonly traceId: string;
  readonly metadata?: unknown;
}

export interface AlertPayload {
  readonly service: 'realtime-token-guard';
  readonly event: SecurityEvent;
  readonly level: 'critical';
  readonly summary: string;
  readonly traceId: string;
  readonly timestamp: string;
  /** Alerts of this kind held back since the last one sent. */
  readonly suppressed: number;
  readonly detail: Readonly<Record<string, string | number>>;
}

export interface Alerter {
  /** Queues an alert for `event`; returns at once and never throws. */
  notify(alert: AlertEvent): void;
  /** POSTs still running. */
  readonly inFlight: number;
  /** Resolves when no POST is running (tests, shutdown). */
  idle(): Promise<void>;
}

export interface AlerterOptions {
  readonly url: string;
  /** Deadline of one POST, connect to answer, in ms (default 2000). */
  readonly timeoutMs?: number;
  /** Least time between two alerts of one kind, in ms (default 60000). */
  readonly minIntervalMs?: number;
  /** POSTs running at once; past it alerts are dropped (default 4). */
  readonly maxInFlight?: number;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  readonly count?: (outcome: AlertOutcome) => void;
}

const SUMMARIES: Partial<Record<SecurityEvent, string>> = {
  rate_limit_store_degraded: 'The shared rate-limit store failed; limits apply per instance in memory until it recovers.',
  upstream_error: 'OpenAI refused the server API key, or another critical upstream failure; check OPENAI_API_KEY.',
  suspicious_activity: 'A client reached the suspicious-activity threshold of repeated security failures.',
  global_limit_tripped: 'The global issuance breaker tripped: no new keys for anyone until its window slides.',
  quota_circuit_open: 'OpenAI reports the quota or spending limit exhausted; upstream calls are paused.',
  config_error: 'A critical configuration or deployment problem was logged.',
};
const FALLBACK_SUMMARY = 'A critical security event was logged; find it by its trace id.';

// Metadata kept in the payload: numbers under these keys, strings only from fixed vocabularies.
const NUMBER_KEYS = new Set(['threshold', 'windowSeconds', 'limit', 'retryAfter', 'status', 'cooloffSeconds', 'degradedForMs']);
const STRING_VALUES: Readonly<Record<string, ReadonlySet<string>>> = {
  code: new Set(Object.keys(ERRORS)),
  reason: new Set(['timeout', 'error', 'unavailable']),
  store: new Set(['redis']),
  fallback: new Set(['memory']),
};

/** The allow-listed part of a log line's metadata. */
export function alertDetail(metadata: unknown): Record<string, string | number> {
  const detail: Record<string, string | number> = {};
  if (metadata === null || typeof metadata !== 'object') return detail;
  for (const [key, value] of Object.entries(metadata)) {
    if (NUMBER_KEYS.has(key) && typeof value === 'number' && Number.isFinite(value)) detail[key] = value;
    else if (typeof value === 'string' && STRING_VALUES[key]?.has(value)) detail[key] = value;
  }
  return detail;
}

/** An alerter POSTing to `options.url`. */
export function createAlerter(options: AlerterOptions): Alerter {
  const timeoutMs = options.timeoutMs ?? 2000;
  const minIntervalMs = options.minIntervalMs ?? 60_000;
  const maxInFlight = options.maxInFlight ?? 4;
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? Date.now;
  const count = options.count ?? (() => {});
  // Kinds are events (plus a catalog code): a fixed set, so this map is bounded.
  const kinds = new Map<string, { sentAt: number; suppressed: number }>();
  const running = new Set<Promise<void>>();

  const post = async (payload: AlertPayload): Promise<void> => {
    try {
      const response = await doFetch(options.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'realtime-token-guard-alerts' },
        body: JSON.stringify(payload),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body?.cancel().catch(() => {});
      count(response.status >= 200 && response.status < 300 ? 'sent' : 'failed');
    } catch (error) {
      count((error as { name?: unknown } | null)?.name === 'TimeoutError' ? 'timeout' : 'error');
    }
  };

  return {
    notify(alert) {
      try {
        const detail = alertDetail(alert.metadata);
        const kind = typeof detail.code === 'string' ? `${alert.event}:${detail.code}` : alert.event;
        const at = now();
        const state = kinds.get(kind);
        if (state !== undefined && at - state.sentAt < minIntervalMs) {
          state.suppressed += 1;
          return count('suppressed');
        }
        if (running.size >= maxInFlight) {
          // Held back like a suppressed one, so the next alert of this kind reports it.
          if (state) state.suppressed += 1;
          else kinds.set(kind, { sentAt: -Infinity, suppressed: 1 });
          return count('dropped');
        }
        const suppressed = state?.suppressed ?? 0;
        kinds.set(kind, { sentAt: at, suppressed: 0 });
        const payload: AlertPayload = {
          service: 'realtime-token-guard',
          event: alert.event,
          level: 'critical',
          summary: SUMMARIES[alert.event] ?? FALLBACK_SUMMARY,
          traceId: /^[0-9a-f]{32}$/.test(alert.traceId) ? alert.traceId : '',
          timestamp: new Date(at).toISOString(),
          suppressed,
          detail,
        };
        const task = post(payload).finally(() => running.delete(task));
        running.add(task);
      } catch {
        count('error');
      }
    },
    get inFlight() {
      return running.size;
    },
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
