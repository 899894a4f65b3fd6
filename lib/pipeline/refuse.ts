import { errorResponse, errorSpec, type ErrorBody, type ErrorCode } from '../errors';
import type { Ctx } from './context';

export interface RefusalDetail {
  /** The log line's message (default: the catalog's message). */
  readonly message?: string;
  /** Logged under `metadata`; names and counts, never secrets or raw values. */
  readonly metadata?: Record<string, unknown>;
  readonly headers?: HeadersInit;
  readonly issues?: ErrorBody['issues'];
}

/**
 * Refuses the request with `code`: logs it with the catalog's event and level
 * (lib/errors.ts) and answers with the catalog's status, message and headers.
 * For a guard in dry run it logs `dry_run_refusal` with the code instead, and
 * counts nothing in `rtg_refusals_total` (lib/metrics.ts).
 */
export function refuse(ctx: Ctx, code: ErrorCode, detail: RefusalDetail = {}): Response {
  const spec = errorSpec(code);
  if (ctx.dryRun !== undefined) {
    // A guard in dry run (lib/pipeline/run.ts): say what it would have answered; the runner goes on.
    ctx.log('info', 'dry_run_refusal', `Dry run: ${ctx.dryRun} would refuse with ${code}`, { guard: ctx.dryRun, code, status: spec.status, ...detail.metadata });
  } else {
    ctx.rt.metrics.refusal(code);
    if (spec.event !== null) {
      ctx.log(spec.level, spec.event, detail.message ?? spec.message, { code, ...detail.metadata, ...(detail.issues ? { issues: detail.issues } : {}) });
    }
  }
  return errorResponse(code, ctx.traceId, { headers: detail.headers, issues: detail.issues });
}
