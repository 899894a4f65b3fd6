import type { LogLevel, SecurityEvent } from './security-logger';

/**
 * Request failures are values with a stable code. This catalog is the only
 * place that says, for each code, the status, the generic secret-free message,
 * the log event and level of a refusal, and the headers it always carries.
 * Guards refuse with a code (lib/pipeline/refuse.ts); they decide nothing of
 * this themselves. Bodies never carry stack traces, upstream text or config.
 *
 * `event: null` marks answers that are not security events (a 404, a 405).
 */

interface ErrorSpec {
  readonly status: number;
  readonly message: string;
  readonly event: SecurityEvent | null;
  readonly level: LogLevel;
  readonly headers?: Readonly<Record<string, string>>;
}

// RFC 6750 §3: a 401 names the scheme; `error="invalid_token"` only when a token was presented.
const REALM = 'Bearer realm="realtime-token"';

export const ERRORS = {
  method_not_allowed: { status: 405, message: 'This method is not supported here; the Allow header lists the ones that are.', event: null, level: 'info' },
  unsupported_media_type: { status: 415, message: 'Send the request body as application/json.', event: 'input_validation_failed', level: 'warn' },
  body_too_large: { status: 413, message: 'The request body is too large.', event: 'input_validation_failed', level: 'warn' },
  origin_not_allowed: { status: 403, message: 'This origin is not allowed to request tokens.', event: 'origin_validation_failed', level: 'warn' },
  rate_limited: { status: 429, message: 'Too many requests. Retry after the time in the Retry-After header.', event: 'rate_limit_exceeded', level: 'warn' },
  service_unavailable: { status: 503, message: 'The token service is not configured. Contact the operator.', event: 'config_error', level: 'error' },
  auth_missing: { status: 401, message: 'Authentication is required.', event: 'auth_failure', level: 'warn', headers: { 'WWW-Authenticate': REALM } },
  auth_invalid: {
    status: 401,
    message: 'The credentials are invalid or expired.',
    event: 'auth_failure',
    level: 'warn',
    headers: { 'WWW-Authenticate': `${REALM}, error="invalid_token"` },
  },
  auth_malformed: { status: 400, message: 'The Authorization header must be "Bearer <token>".', event: 'auth_failure', level: 'warn' },
  // RFC 6750 §3.1: another scheme is an unsupported method, answered like a missing credential (no error code).
  auth_scheme_unsupported: {
    status: 401,
    message: 'This authentication scheme is not supported; send "Bearer <token>".',
    event: 'auth_failure',
    level: 'warn',
    headers: { 'WWW-Authenticate': REALM },
  },
  // The identity provider's key set cannot be fetched: nobody can be verified, which is not the client's fault.
  auth_unavailable: { status: 503, message: 'Sign-in cannot be checked right now. Try again shortly.', event: 'config_error', level: 'critical' },
  body_invalid: { status: 400, message: 'The request body is invalid.', event: 'input_validation_failed', level: 'warn' },
  json_invalid: { status: 400, message: 'The request body is not valid JSON.', event: 'input_validation_failed', level: 'warn' },
  upstream_error: { status: 502, message: 'The voice service could not be reached. Try again shortly.', event: 'upstream_error', level: 'error' },
  upstream_auth: { status: 502, message: 'The voice service refused the request. Contact the operator.', event: 'upstream_error', level: 'critical' },
  upstream_rejected: { status: 502, message: 'The voice service rejected the session settings.', event: 'upstream_error', level: 'warn' },
  upstream_timeout: { status: 504, message: 'The voice service did not answer in time. Try again shortly.', event: 'upstream_error', level: 'error' },
  upstream_rate_limited: { status: 503, message: 'The voice service is busy or out of quota. Retry later.', event: 'upstream_error', level: 'error' },
  sdp_invalid: { status: 400, message: 'The call offer (SDP) is invalid.', event: 'input_validation_failed', level: 'warn' },
  call_limit_reached: { status: 429, message: 'Too many calls are open. End one, or retry after the time in the Retry-After header.', event: 'rate_limit_exceeded', level: 'warn' },
  minutes_exhausted: { status: 429, message: 'No call minutes are left for today. Retry after the time in the Retry-After header.', event: 'rate_limit_exceeded', level: 'warn' },
  geo_blocked: { status: 403, message: 'This service is not available in your region.', event: 'geo_blocked', level: 'warn' },
  denied: { status: 403, message: 'Access to this service has been denied. Contact the operator.', event: 'access_denied', level: 'warn' },
  anomaly_cooloff: {
    status: 429,
    message: 'Unusual activity on this account paused new sessions. Retry after the time in the Retry-After header.',
    event: 'anomaly_cooloff',
    level: 'warn',
  },
  issuance_paused: {
    status: 503,
    message: 'The service is issuing too many sessions right now. Retry after the time in the Retry-After header.',
    event: 'rate_limit_exceeded',
    level: 'warn',
  },
  upstream_quota_cooloff: { status: 503, message: 'The voice service is out of quota. Retry later.', event: 'upstream_error', level: 'warn' },
  not_found: { status: 404, message: 'Not found.', event: null, level: 'info' },
  internal_error: { status: 500, message: 'Something went wrong. Quote the trace id when you report it.', event: 'internal_error', level: 'error' },
  // Answered by the front door (server/front-door.ts) before the app sees the request.
  bad_request: { status: 400, message: 'The request is malformed.', event: 'input_validation_failed', level: 'warn' },
  permanent_redirect: { status: 308, message: 'This resource lives at the URL in the Location header.', event: null, level: 'info' },
  request_timeout: { status: 408, message: 'The request took too long to arrive.', event: 'input_validation_failed', level: 'warn' },
  headers_too_large: { status: 431, message: 'The request headers are too large.', event: 'input_validation_failed', level: 'warn' },
  too_many_connections: {
    status: 503,
    message: 'Too many open connections from this client. Retry shortly.',
    event: 'rate_limit_exceeded',
    level: 'warn',
    headers: { 'Retry-After': '1' },
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The catalog entry for `code`, typed as the common shape. */
export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERRORS[code];
}

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  traceId: string;
  /** Field-level problems for 400 body_invalid; names and rules only, never values. */
  issues?: ReadonlyArray<{ field: string; message: string }>;
}

/** JSON error response with the catalog's status, message and headers (`extra.headers` win). */
export function errorResponse(
  code: ErrorCode,
  traceId: string,
  extra: { headers?: HeadersInit; issues?: ErrorBody['issues'] } = {},
): Response {
  const { status, message, headers: fixed } = errorSpec(code);
  const body: ErrorBody = { error: code, message, traceId, ...(extra.issues ? { issues: extra.issues } : {}) };
  const headers = new Headers(fixed);
  new Headers(extra.headers).forEach((value, name) => headers.set(name, value));
  return Response.json(body, { status, headers });
}
