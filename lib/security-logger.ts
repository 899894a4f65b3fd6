import { randomFillSync } from 'node:crypto';
import { sanitize, sanitizeString } from './log-sanitize';

export { sanitize, sanitizeString } from './log-sanitize';

/**
 * Structured security logging: one JSON object per line, a fixed event
 * vocabulary, and redaction compiled once (pino's habits).
 */

export type LogLevel = 'info' | 'warn' | 'error' | 'critical';

export const SECURITY_EVENTS = [
  'auth_success',
  'auth_failure',
  'rate_limit_exceeded',
  'origin_validation_failed',
  'input_validation_failed',
  'token_issued',
  'suspicious_activity',
  'upstream_error',
  'config_error',
  'internal_error',
  'rate_limit_store_degraded',
  'rate_limit_store_recovered',
  'call_started',
  'call_ended',
  'call_override_blocked',
  'call_supervisor_error',
  // Abuse controls (README "Abuse controls").
  'geo_blocked',
  'access_denied',
  'deny_list_reloaded',
  'anomaly_detected',
  'anomaly_cooloff',
  'global_limit_tripped',
  'quota_circuit_open',
  'dry_run_refusal',
] as const;
export type SecurityEvent = (typeof SECURITY_EVENTS)[number];

/** What the route knows about the request; every field is untrusted except traceId. */
export interface RequestContext {
  traceId: string;
  ip?: string;
  userAgent?: string | null;
  origin?: string | null;
  endpoint?: string;
  method?: string;
  userId?: string;
}

export interface SecurityLogEntry {
  timestamp: string;
  traceId: string;
  level: LogLevel;
  event: SecurityEvent;
  message: string;
  userId?: string;
  ip?: string;
  userAgent?: string;
  origin?: string;
  endpoint?: string;
  method?: string;
  metadata?: unknown;
}

export type LogSink = (line: string) => void;

const W3C_TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The request's trace id: the trace-id of a valid W3C `traceparent`
 * (https://www.w3.org/TR/trace-context/#traceparent-header), else a fresh
 * 128-bit random id. Always 32 lowercase hex characters.
 */
export function traceIdFrom(traceparent: string | null): string {
  const match = traceparent ? W3C_TRACEPARENT.exec(traceparent.trim()) : null;
  if (match && match[1] !== 'ff' && !/^0+$/.test(match[2]) && !/^0+$/.test(match[3])) return match[2];
  return freshTraceId();
}

/**
 * 128 random bits as hex, cut from a pool filled 4 KiB at a time: one
 * `randomBytes(16)` per request was a system call each (bench/e2e.mjs
 * profile), where one refill serves 256 ids. The bytes are the same CSPRNG's.
 */
const TRACE_POOL = Buffer.alloc(4096);
let tracePoolOffset = TRACE_POOL.length;
function freshTraceId(): string {
  if (tracePoolOffset + 16 > TRACE_POOL.length) {
    randomFillSync(TRACE_POOL);
    tracePoolOffset = 0;
  }
  const id = TRACE_POOL.toString('hex', tracePoolOffset, tracePoolOffset + 16);
  tracePoolOffset += 16;
  return id;
}

const LEVEL_RANK: Record<LogLevel, number> = { info: 0, warn: 1, error: 2, critical: 3 };

export interface SecurityLogger {
  log(level: LogLevel, event: SecurityEvent, message: string, ctx: RequestContext, metadata?: unknown): void;
}

/**
 * A logger writing JSON lines to `sink` (default: stdout).
 * @param options.minLevel drop entries below this level (default `info`)
 */
export function createSecurityLogger(
  options: { sink?: LogSink; minLevel?: LogLevel; now?: () => number } = {},
): SecurityLogger {
  const sink = options.sink ?? ((line: string) => void process.stdout.write(line));
  const min = LEVEL_RANK[options.minLevel ?? 'info'];
  const now = options.now ?? Date.now;
  return {
    log(level, event, message, ctx, metadata) {
      if (LEVEL_RANK[level] < min) return;
      const entry: SecurityLogEntry = {
        timestamp: new Date(now()).toISOString(),
        traceId: ctx.traceId,
        level,
        event,
        message: sanitizeString(message),
        userId: opt(ctx.userId),
        ip: opt(ctx.ip),
        userAgent: opt(ctx.userAgent),
        origin: opt(ctx.origin),
        endpoint: opt(ctx.endpoint),
        method: opt(ctx.method),
        metadata: metadata === undefined ? undefined : sanitize(metadata),
      };
      try {
        sink(`${JSON.stringify(entry)}\n`);
      } catch {
        // Logging must never take the request down with it.
      }
    },
  };
}

function opt(value: string | null | undefined): string | undefined {
  return value === null || value === undefined ? undefined : sanitizeString(value);
}

const LOGGER_KEY = Symbol.for('realtime-token-guard.logger');
type LoggerHolder = { [LOGGER_KEY]?: SecurityLogger };

/** The process-wide logger (stdout), shared across route bundles. */
export function getSecurityLogger(): SecurityLogger {
  const holder = globalThis as LoggerHolder;
  return (holder[LOGGER_KEY] ??= createSecurityLogger());
}
