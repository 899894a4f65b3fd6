import type { Identity } from '../auth';
import type { CallBudget } from '../calls/supervisor';
import { requestClient } from '../client-ip';
import type { RateLimitResult, Reservation } from '../limits/store';
import type { Runtime } from '../runtime';
import { traceIdFrom, type LogLevel, type RequestContext, type SecurityEvent } from '../security-logger';
import type { TokenRequest } from '../validation';

/**
 * What one request carries through its guards. Built once per request; the
 * log fields are bound here (pino's `child` habit), so a guard logs with
 * `ctx.log(level, event, message, metadata)` and never restates who asked.
 */
export interface Ctx {
  readonly req: Request;
  readonly rt: Runtime;
  readonly traceId: string;
  /** The rate-limit key of the client address (lib/client-ip.ts). */
  readonly ip: string;
  /** The full client address the key came from (IPv6 keys are /64s); undefined when unknown. */
  readonly address: string | undefined;
  /** Untrusted request facts for every log line of this request. */
  readonly fields: RequestContext;
  /** Results of every limiter that ran, for the response headers. */
  readonly limits: RateLimitResult[];
  log(level: LogLevel, event: SecurityEvent, message: string, metadata?: unknown): void;
  rawBody?: Uint8Array;
  /** The auth-failure unit reserved before verifying; released when the credential is valid. */
  authAttempt?: Reservation;
  identity?: Identity;
  body?: TokenRequest;
  /** The client's country once looked up (lib/geo.ts); null: looked up, unknown. */
  country?: string | null;
  /** Set by the runner while a guard listed in `GUARD_DRY_RUN` runs: refusals are logged, not answered. */
  dryRun?: string;
  /** Called by the upstream guard with the failure it met (the quota circuit listens). */
  onUpstreamFailure?: (error: unknown) => Promise<void>;
  /** The validated SDP offer, CRLF lines (calls route, lib/sdp.ts). */
  offer?: string;
  /** The slot and seconds drawn for the call being placed (calls route). */
  callBudget?: CallBudget & { readonly limitedBy: 'max_duration' | 'budget' };
}

export function createContext(req: Request, rt: Runtime): Ctx {
  // The trace id is derived here only (and by the front door and the
  // preflight answer, with the same function); a client-sent X-Trace-Id is never taken.
  const traceId = traceIdFrom(req.headers.get('traceparent'));
  const { ip, address } = requestClient(req.headers, rt.config);
  const fields: RequestContext = {
    traceId,
    ip,
    userAgent: req.headers.get('user-agent'),
    origin: req.headers.get('origin'),
    endpoint: new URL(req.url).pathname,
    method: req.method,
  };
  return {
    req,
    rt,
    traceId,
    ip,
    address,
    fields,
    limits: [],
    log: (level, event, message, metadata) => rt.logger.log(level, event, message, fields, metadata),
  };
}
