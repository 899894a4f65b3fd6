import { authConfigured, authenticate, type Identity } from './auth';
import { BodyTooLargeError, decodeUtf8, readCapped } from './body';
import { clientIp } from './client-ip';
import { errorResponse, type ErrorCode } from './errors';
import { createEphemeralKey, UpstreamError } from './openai';
import { checkOrigin } from './origin';
import { rateLimitHeaders, type RateLimitResult } from './rate-limit';
import type { Runtime } from './runtime';
import { applySecurityHeaders } from './security-headers';
import { traceIdFrom, type LogLevel, type RequestContext, type SecurityEvent } from './security-logger';
import { validateTokenRequest, type TokenRequest } from './validation';

/**
 * The steps of `POST /api/realtime/token`. Each is a small named function that
 * either answers (a Response) or lets the request through (undefined); the
 * route lists them in order and the first answer wins. Every answer passes
 * through {@link finalize}, which adds security, trace and rate-limit headers.
 */

export interface TokenContext {
  readonly req: Request;
  readonly rt: Runtime;
  readonly traceId: string;
  readonly ip: string;
  readonly log: RequestContext;
  /** Results of every limiter that ran, for the response headers. */
  readonly limits: RateLimitResult[];
  rawBody?: Uint8Array;
  identity?: Identity;
  body?: TokenRequest;
}

export type Step = (ctx: TokenContext) => Promise<Response | undefined>;

const JSON_CONTENT_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;
const TRACE_ID = /^[0-9a-f]{32}$/;

/** Builds the per-request context. The trace id comes from the middleware or `traceparent`. */
export function createContext(req: Request, rt: Runtime): TokenContext {
  const forwarded = req.headers.get('x-trace-id');
  const traceId = forwarded && TRACE_ID.test(forwarded) ? forwarded : traceIdFrom(req.headers.get('traceparent'));
  const ip = clientIp(req.headers.get('x-forwarded-for'), rt.config.trustedProxyHops);
  return {
    req,
    rt,
    traceId,
    ip,
    limits: [],
    log: {
      traceId,
      ip,
      userAgent: req.headers.get('user-agent'),
      origin: req.headers.get('origin'),
      endpoint: new URL(req.url).pathname,
      method: req.method,
    },
  };
}

/**
 * Runs `steps` in order; the first Response wins. Unexpected errors become a
 * 500 with a trace id; a configuration that cannot load becomes a 503.
 */
export async function runPipeline(req: Request, getRt: () => Runtime, steps: readonly Step[]): Promise<Response> {
  let rt: Runtime;
  try {
    rt = getRt();
  } catch {
    return unconfigured(req);
  }
  const ctx = createContext(req, rt);
  try {
    for (const step of steps) {
      const answer = await step(ctx);
      if (answer) return finalize(ctx, answer);
    }
    throw new Error('token pipeline ended without an answer');
  } catch (error) {
    log(ctx, 'error', 'internal_error', 'Unhandled error in token pipeline', { error });
    return finalize(ctx, fail(ctx, 'internal_error'));
  }
}

/** Adds the trace id, security headers and rate-limit headers to an answer. */
export function finalize(ctx: TokenContext, response: Response): Response {
  const headers = response.headers;
  rateLimitHeaders(ctx.limits, ctx.rt.now()).forEach((value, name) => {
    if (!headers.has(name)) headers.set(name, value);
  });
  applySecurityHeaders(headers, ctx.rt.config.isProduction);
  headers.set('X-Trace-Id', ctx.traceId);
  return response;
}

function fail(ctx: TokenContext, code: ErrorCode, extra?: Parameters<typeof errorResponse>[2]): Response {
  return errorResponse(code, ctx.traceId, extra);
}

function log(ctx: TokenContext, level: LogLevel, event: SecurityEvent, message: string, metadata?: unknown): void {
  ctx.rt.logger.log(level, event, message, ctx.log, metadata);
}

/**
 * Counts a security failure for the client IP and logs `suspicious_activity`
 * when the IP reaches the threshold (once per burst: the limiter refuses
 * further counts until the window slides).
 */
async function noteFailure(ctx: TokenContext, kind: string): Promise<void> {
  const policy = ctx.rt.config.rateLimits.suspicious;
  const result = await ctx.rt.store.hit(ctx.ip, policy);
  if (result.allowed && result.remaining === 0) {
    log(ctx, 'critical', 'suspicious_activity', `Repeated security failures from ${ctx.ip}`, {
      lastFailure: kind,
      threshold: policy.limit,
      windowSeconds: policy.windowMs / 1000,
    });
  }
}

async function refuseRateLimited(ctx: TokenContext, result: RateLimitResult): Promise<Response> {
  const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
  log(ctx, 'warn', 'rate_limit_exceeded', `Rate limit exceeded for ${ctx.log.userId ?? ctx.ip}`, {
    policy: result.policy.name,
    limit: result.limit,
    retryAfter,
  });
  await noteFailure(ctx, `rate_limit:${result.policy.name}`);
  return fail(ctx, 'rate_limited');
}

/** 1. Shape: JSON content type, body within the byte cap (read with a cap, never unbounded). */
export const checkRequestShape: Step = async (ctx) => {
  const { req, rt } = ctx;
  const type = req.headers.get('content-type');
  const declared = Number(req.headers.get('content-length') ?? '0');
  if (type !== null ? !JSON_CONTENT_TYPE.test(type.trim()) : declared > 0) {
    return refuseShape(ctx, 'unsupported_media_type', 'content type is not application/json');
  }
  if (declared > rt.config.maxBodyBytes) return refuseShape(ctx, 'body_too_large', 'declared length over the cap');
  try {
    ctx.rawBody = await readCapped(req.body, rt.config.maxBodyBytes);
  } catch (error) {
    if (error instanceof BodyTooLargeError) return refuseShape(ctx, 'body_too_large', 'body over the cap while reading');
    // The client aborted or sent a broken stream: its error, not a 500 (and not an error-level log).
    return refuseBody(ctx, 'json_invalid', 'body could not be read');
  }
  if (type === null && ctx.rawBody.byteLength > 0) {
    return refuseShape(ctx, 'unsupported_media_type', 'body sent without a content type');
  }
  return undefined;
};

function refuseShape(ctx: TokenContext, code: 'unsupported_media_type' | 'body_too_large', reason: string): Response {
  log(ctx, 'warn', 'input_validation_failed', 'Request refused before parsing', { code, reason, maxBytes: ctx.rt.config.maxBodyBytes });
  return fail(ctx, code);
}

/** 2. Origin: a browser origin must be listed exactly. */
export const checkRequestOrigin: Step = async (ctx) => {
  const result = checkOrigin(ctx.req.headers, ctx.rt.config.allowedOrigins);
  if (result.ok) return undefined;
  log(ctx, 'warn', 'origin_validation_failed', 'Request origin not allowed', { reason: result.reason });
  await noteFailure(ctx, 'origin');
  return fail(ctx, 'origin_not_allowed');
};

/** 3. General API limit per client IP. */
export const limitApiPerIp: Step = async (ctx) => {
  const result = await ctx.rt.store.hit(ctx.ip, ctx.rt.config.rateLimits.api);
  ctx.limits.push(result);
  return result.allowed ? undefined : refuseRateLimited(ctx, result);
};

/** 4. An IP over the auth-failure limit is refused before its credentials are verified. */
export const limitAuthFailures: Step = async (ctx) => {
  const result = await ctx.rt.store.peek(ctx.ip, ctx.rt.config.rateLimits.authFailures);
  if (result.allowed) return undefined;
  ctx.limits.push(result);
  return refuseRateLimited(ctx, result);
};

/** 4b. Without a server key or any auth method the service cannot work: 503, before verifying anything. */
export const requireConfigured: Step = async (ctx) => {
  const { config } = ctx.rt;
  if (config.openai.apiKey && authConfigured(config)) return undefined;
  log(ctx, 'error', 'config_error', 'Token service is not configured', {
    missing: [
      ...(config.openai.apiKey ? [] : ['OPENAI_API_KEY']),
      ...(authConfigured(config) ? [] : ['JWT_SECRET or Clerk keys']),
    ],
  });
  return fail(ctx, 'service_unavailable');
};

/** 5. Authentication: Clerk session first, HS256 JWT fallback. */
export const authenticateUser: Step = async (ctx) => {
  const result = await authenticate(ctx.req.headers, ctx.rt.config);
  if (result.ok) {
    ctx.identity = result.identity;
    ctx.log.userId = result.identity.userId;
    log(ctx, 'info', 'auth_success', `Authenticated via ${result.identity.method}`, { method: result.identity.method });
    return undefined;
  }
  const auth = await ctx.rt.store.hit(ctx.ip, ctx.rt.config.rateLimits.authFailures);
  log(ctx, 'warn', 'auth_failure', 'Authentication failed', {
    code: result.code,
    reason: result.reason,
    failuresRemaining: auth.remaining,
  });
  await noteFailure(ctx, result.code);
  // RFC 6750 §3: a 401 names the scheme; malformed headers are a 400 instead.
  const challenge =
    result.code === 'auth_invalid' ? 'Bearer realm="realtime-token", error="invalid_token"' : 'Bearer realm="realtime-token"';
  return fail(ctx, result.code, result.code === 'auth_malformed' ? undefined : { headers: { 'WWW-Authenticate': challenge } });
};

/** 6. Token issuance limit per user. */
export const limitTokensPerUser: Step = async (ctx) => {
  const key = ctx.identity?.userId ?? `ip:${ctx.ip}`;
  const result = await ctx.rt.store.hit(key, ctx.rt.config.rateLimits.token);
  ctx.limits.push(result);
  return result.allowed ? undefined : refuseRateLimited(ctx, result);
};

/** 7. JSON parse, zod validation against the allowlists, instruction sanitizing. */
export const validateBody: Step = async (ctx) => {
  const text = decodeUtf8(ctx.rawBody ?? new Uint8Array(0));
  let json: unknown = {};
  if (text === undefined) return refuseBody(ctx, 'json_invalid', 'body is not valid UTF-8');
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      return refuseBody(ctx, 'json_invalid', 'body is not valid JSON');
    }
  }
  const result = validateTokenRequest(ctx.rt.schema, json);
  if (!result.ok) return refuseBody(ctx, 'body_invalid', 'body failed validation', result.issues);
  ctx.body = result.value;
  return undefined;
};

function refuseBody(
  ctx: TokenContext,
  code: 'json_invalid' | 'body_invalid',
  reason: string,
  issues?: Array<{ field: string; message: string }>,
): Response {
  log(ctx, 'warn', 'input_validation_failed', 'Request body rejected', { reason, issues });
  return fail(ctx, code, { issues });
}

const UPSTREAM_LOG_LEVEL: Record<UpstreamError['code'], LogLevel> = {
  upstream_error: 'error',
  upstream_timeout: 'error',
  upstream_auth: 'critical',
  upstream_rejected: 'warn',
  upstream_rate_limited: 'error',
};

/** 8–9. Mint the ephemeral key and answer with allow-listed fields only. */
export const mintToken: Step = async (ctx) => {
  const { config } = ctx.rt;
  const request = ctx.body!;
  try {
    const key = await createEphemeralKey(request, {
      apiKey: config.openai.apiKey!,
      baseUrl: config.openai.baseUrl,
      timeoutMs: config.openai.timeoutMs,
      ttlSeconds: config.openai.tokenTtlSeconds,
      fetch: ctx.rt.fetch,
    });
    log(ctx, 'info', 'token_issued', 'Realtime ephemeral key issued', {
      model: key.session.model,
      voice: key.session.voice,
      sessionId: key.session.id,
      expiresAt: key.expires_at,
    });
    return Response.json(
      {
        value: key.value,
        expires_at: key.expires_at,
        session: { id: key.session.id, model: key.session.model, voice: key.session.voice },
        traceId: ctx.traceId,
      },
      { status: 200 },
    );
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    log(ctx, UPSTREAM_LOG_LEVEL[error.code], 'upstream_error', 'OpenAI client_secrets call failed', {
      code: error.code,
      ...error.detail,
    });
    const headers = error.retryAfterSeconds ? { 'Retry-After': String(error.retryAfterSeconds) } : undefined;
    return fail(ctx, error.code, { headers });
  }
};

/** 503 when the configuration cannot load (the start-up check normally stops the server first). */
function unconfigured(req: Request): Response {
  const traceId = traceIdFrom(req.headers.get('traceparent'));
  const response = errorResponse('service_unavailable', traceId);
  applySecurityHeaders(response.headers, false);
  response.headers.set('X-Trace-Id', traceId);
  return response;
}

/** 405 for every method but POST (and OPTIONS, answered with the allowed methods). */
export async function methodNotAllowed(req: Request, getRt: () => Runtime): Promise<Response> {
  return runPipeline(req, getRt, [async (ctx) => fail(ctx, 'method_not_allowed', { headers: { Allow: 'POST, OPTIONS' } })]);
}

/** A plain OPTIONS (no CORS preflight; the middleware answers those). */
export async function options(req: Request, getRt: () => Runtime): Promise<Response> {
  return runPipeline(req, getRt, [async () => new Response(null, { status: 204, headers: { Allow: 'POST, OPTIONS' } })]);
}

/** Unknown API path. */
export const notFound: Step = async (ctx) => fail(ctx, 'not_found');
