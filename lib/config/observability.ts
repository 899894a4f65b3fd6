import { isTlsOrLoopback } from './hosts';

/**
 * Settings of GET /api/metrics and the alert webhook (README "Metrics and
 * alerts"), built from the variables of lib/config/schema.ts.
 */

export interface MetricsConfig {
  /** The Bearer token GET /api/metrics requires; unset: the route answers 404. */
  readonly token: string | undefined;
}

export interface AlertsConfig {
  /** Where `critical` events are POSTed (lib/alerts.ts); may hold a token, so never logged. */
  readonly webhookUrl: string | undefined;
  readonly timeoutMs: number;
  readonly minIntervalMs: number;
}

interface ObservabilityEnv {
  readonly METRICS_TOKEN?: string;
  readonly ALERT_WEBHOOK_URL?: string;
  readonly ALERT_TIMEOUT_MS: number;
  readonly ALERT_MIN_INTERVAL_MS: number;
}

type Fail = (name: string, why: string) => never;

export function observabilityConfig(e: ObservabilityEnv, isProduction: boolean, fail: Fail): { metrics: MetricsConfig; alerts: AlertsConfig } {
  // Alert payloads name the service's failures; like OPENAI_BASE_URL (lib/config/index.ts), cleartext only to loopback.
  if (isProduction && e.ALERT_WEBHOOK_URL !== undefined && !isTlsOrLoopback(e.ALERT_WEBHOOK_URL)) {
    fail('ALERT_WEBHOOK_URL', 'must use https:// in production (loopback excepted)');
  }
  return {
    metrics: { token: e.METRICS_TOKEN },
    alerts: { webhookUrl: e.ALERT_WEBHOOK_URL, timeoutMs: e.ALERT_TIMEOUT_MS, minIntervalMs: e.ALERT_MIN_INTERVAL_MS },
  };
}
