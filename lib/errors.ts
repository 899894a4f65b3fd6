/**
 * Request failures are values with a stable code; this table is the only
 * place that maps a code to a status and a generic, secret-free message
 * (STYLE.md §4). Bodies never carry stack traces, upstream text or config.
 */

export const ERRORS = {
  method_not_allowed: { status: 405, message: 'Only POST is supported on this endpoint.' },
  unsupported_media_type: { status: 415, message: 'Send the request body as application/json.' },
  body_too_large: { status: 413, message: 'The request body is too large.' },
  origin_not_allowed: { status: 403, message: 'This origin is not allowed to request tokens.' },
  rate_limited: { status: 429, message: 'Too many requests. Retry after the time in the Retry-After header.' },
  service_unavailable: { status: 503, message: 'The token service is not configured. Contact the operator.' },
  auth_missing: { status: 401, message: 'Authentication is required.' },
  auth_invalid: { status: 401, message: 'The credentials are invalid or expired.' },
  auth_malformed: { status: 400, message: 'The Authorization header must be "Bearer <token>".' },
  body_invalid: { status: 400, message: 'The request body is invalid.' },
  json_invalid: { status: 400, message: 'The request body is not valid JSON.' },
  upstream_error: { status: 502, message: 'The voice service could not be reached. Try again shortly.' },
  upstream_auth: { status: 502, message: 'The voice service refused the request. Contact the operator.' },
  upstream_rejected: { status: 502, message: 'The voice service rejected the session settings.' },
  upstream_timeout: { status: 504, message: 'The voice service did not answer in time. Try again shortly.' },
  upstream_rate_limited: { status: 503, message: 'The voice service is busy or out of quota. Retry later.' },
  not_found: { status: 404, message: 'Not found.' },
  internal_error: { status: 500, message: 'Something went wrong. Quote the trace id when you report it.' },
  // Answered by the front door (server/front-door.ts) before the app sees the request.
  bad_request: { status: 400, message: 'The request is malformed.' },
  permanent_redirect: { status: 308, message: 'This resource lives at the URL in the Location header.' },
  request_timeout: { status: 408, message: 'The request took too long to arrive.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  too_many_connections: { status: 503, message: 'Too many open connections from this client. Retry shortly.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  traceId: string;
  /** Field-level problems for 400 body_invalid; names and rules only, never values. */
  issues?: ReadonlyArray<{ field: string; message: string }>;
}

/** JSON error response with the table's status and message. */
export function errorResponse(
  code: ErrorCode,
  traceId: string,
  extra: { headers?: HeadersInit; issues?: ErrorBody['issues'] } = {},
): Response {
  const { status, message } = ERRORS[code];
  const body: ErrorBody = { error: code, message, traceId, ...(extra.issues ? { issues: extra.issues } : {}) };
  return Response.json(body, { status, headers: extra.headers });
}
