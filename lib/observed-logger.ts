import type { Alerter } from './alerts';
import type { Metrics } from './metrics';
import type { SecurityLogger } from './security-logger';

/**
 * The runtime's logger (lib/runtime.ts): every line is written by `inner` as
 * before, then counted in `rtg_security_events_total`, and a `critical` one is
 * handed to the alert webhook. Counting happens before the logger's own level
 * filter could drop a line, and neither step can throw into the caller.
 */
export function observedLogger(inner: SecurityLogger, metrics: Metrics, alerter: Alerter | undefined): SecurityLogger {
  return {
    log(level, event, message, ctx, metadata) {
      inner.log(level, event, message, ctx, metadata);
      try {
        metrics.securityEvent(level, event);
        if (level === 'critical') alerter?.notify({ event, traceId: ctx.traceId, metadata });
      } catch {
        // Observability must never take the request down with it.
      }
    },
  };
}
