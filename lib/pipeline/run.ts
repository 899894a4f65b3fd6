import type { AppConfig } from '../config';
import { errorResponse } from '../errors';
import { getRuntime, type Runtime } from '../runtime';
import { traceIdFrom } from '../security-logger';
import { createContext, type Ctx } from './context';
import { finalize } from './finalize';
import type { Guard, GuardFactory } from './guard';

export type Handler = (req: Request) => Promise<Response>;

/**
 * A route handler that runs `factories`' guards in order; the first answer
 * wins and passes through the finaliser. Guards are built once per
 * configuration (a test that swaps the runtime gets guards of its own).
 * An unexpected error becomes a 500 with a trace id; a configuration that
 * cannot load becomes a 503.
 */
export interface PipelineOptions {
  /** The answer when the configuration cannot load. */
  readonly unavailable?: () => Response;
  /** Whether this configuration serves the route at all; otherwise every request is a plain 404 (REALTIME_MODE). */
  readonly servedWhen?: (config: AppConfig) => boolean;
}

export function pipeline(factories: readonly GuardFactory[], options: PipelineOptions = {}): Handler {
  const built = new WeakMap<AppConfig, ReadonlyArray<{ guard: Guard; dry: boolean }>>();
  return async (req) => {
    let rt: Runtime;
    try {
      rt = getRuntime();
    } catch {
      return unconfigured(req, options.unavailable);
    }
    let guards = built.get(rt.config);
    if (guards === undefined) {
      guards = factories.map((make) => make(rt.config)).map((guard) => ({ guard, dry: rt.config.dryRun.has(guard.name) }));
      built.set(rt.config, guards);
    }
    const ctx = createContext(req, rt);
    if (options.servedWhen && !options.servedWhen(rt.config)) return done(ctx, errorResponse('not_found', ctx.traceId));
    try {
      for (const { guard, dry } of guards) {
        if (!dry) {
          const answer = await guard.run(ctx);
          if (answer) return done(ctx, answer);
          continue;
        }
        // Dry run (GUARD_DRY_RUN): refuse() logs dry_run_refusal instead of the refusal, and the
        // answer is dropped with the limiter results it added, so the request goes on unchanged.
        ctx.dryRun = guard.name;
        const limits = ctx.limits.length;
        const answer = await guard.run(ctx).finally(() => (ctx.dryRun = undefined));
        if (answer) ctx.limits.length = limits;
      }
      throw new Error('pipeline ended without an answer');
    } catch (error) {
      ctx.log('error', 'internal_error', 'Unhandled error in request pipeline', { error });
      ctx.rt.metrics.refusal('internal_error');
      return done(ctx, errorResponse('internal_error', ctx.traceId));
    }
  };
}

function done(ctx: Ctx, response: Response): Response {
  const { config } = ctx.rt;
  return finalize(response, {
    traceId: ctx.traceId,
    production: config.isProduction,
    origin: ctx.fields.origin ?? null,
    allowedOrigins: config.allowedOrigins,
    limits: ctx.limits,
    now: ctx.rt.now(),
  });
}

/** 503 when the configuration cannot load (the start-up check normally stops the server first). */
function unconfigured(req: Request, body?: () => Response): Response {
  const traceId = traceIdFrom(req.headers.get('traceparent'));
  const response = body ? body() : errorResponse('service_unavailable', traceId);
  return finalize(response, { traceId, production: false, origin: null, allowedOrigins: new Set() });
}

/** A guard that answers every request with `answer` (405s, plain OPTIONS, 404s, health). */
export function answerWith(name: string, answer: (ctx: Ctx) => Response | Promise<Response>): GuardFactory {
  return () => ({ name, refuses: [], run: async (ctx) => answer(ctx) });
}

/** 405 with `Allow` for methods a route does not serve. */
export const methodNotAllowed = (allow: string, options?: PipelineOptions): Handler =>
  pipeline([answerWith('method_not_allowed', (ctx) => errorResponse('method_not_allowed', ctx.traceId, { headers: { Allow: allow } }))], options);

/** A plain OPTIONS (not a CORS preflight; the middleware answers those). */
export const plainOptions = (allow: string, options?: PipelineOptions): Handler =>
  pipeline([answerWith('options', () => new Response(null, { status: 204, headers: { Allow: allow } }))], options);
