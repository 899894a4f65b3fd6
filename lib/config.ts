import { z } from 'zod';

/**
 * The one place that reads `process.env` (STYLE.md §3). Everything the server
 * needs is parsed here once, when the server starts, so a deployment changes
 * behaviour with a restart and never needs a rebuild.
 *
 * Rules: an empty string means unset; a bad value throws a {@link ConfigError}
 * that names the variable and never echoes its value.
 */

/** The Realtime voices the OpenAI API accepts (checked against the GA docs). */
export const REALTIME_VOICES = [
  'alloy', 'ash', 'ballad', 'coral', 'echo', 'sage', 'shimmer', 'verse', 'marin', 'cedar',
] as const;

/** The spec's voice list. fable, onyx and nova are TTS voices Realtime rejects; see SECURITY.md. */
export const DEFAULT_ALLOWED_VOICES = ['alloy', 'echo', 'fable', 'onyx', 'nova', 'shimmer'];
export const DEFAULT_ALLOWED_MODELS = [
  'gpt-realtime',
  'gpt-realtime-mini',
  'gpt-4o-realtime-preview',
  'gpt-4o-mini-realtime-preview',
];

export interface RatePolicy {
  /** Short name used in keys and in the IETF `RateLimit` header. */
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
}

export interface AppConfig {
  readonly nodeEnv: 'development' | 'production' | 'test';
  readonly isProduction: boolean;
  readonly openai: {
    readonly apiKey: string | undefined;
    readonly baseUrl: string;
    readonly timeoutMs: number;
    readonly tokenTtlSeconds: number;
  };
  /** Normalised, exact origins (`scheme://host[:port]`). */
  readonly allowedOrigins: ReadonlySet<string>;
  readonly jwt:
    | {
        readonly secret: Uint8Array;
        readonly issuer: string | undefined;
        readonly audience: string | undefined;
        readonly maxAgeSeconds: number;
        readonly clockToleranceSeconds: number;
      }
    | undefined;
  readonly clerk:
    | {
        readonly secretKey: string;
        readonly publishableKey: string;
        readonly jwtKey: string | undefined;
      }
    | undefined;
  readonly redisUrl: string | undefined;
  /** Deadline for one Redis command; past it the limiter falls back to memory. */
  readonly redisTimeoutMs: number;
  readonly rateLimitPrefix: string;
  readonly trustedProxyHops: number;
  readonly voices: readonly string[];
  readonly models: readonly string[];
  readonly defaultVoice: string;
  readonly defaultModel: string;
  readonly maxBodyBytes: number;
  readonly rateLimits: {
    readonly token: RatePolicy;
    readonly api: RatePolicy;
    readonly authFailures: RatePolicy;
    readonly suspicious: RatePolicy;
  };
  readonly rateLimitMaxKeys: number;
  readonly rateLimitSweepMs: number;
}

/** Thrown for a bad or missing setting; the message names variables, never values. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly variables: readonly string[], message: string) {
    super(message);
  }
}

type Env = Record<string, string | undefined>;

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

function intIn(min: number, max: number, fallback: number) {
  return optionalString.pipe(
    z
      .string()
      .regex(/^\d+$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().int().min(min).max(max))
      .optional()
      .transform((v) => v ?? fallback),
  );
}

function list(fallback: readonly string[]) {
  return optionalString.transform((v) =>
    v === undefined
      ? [...fallback]
      : v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
  );
}

/** `"N/S"`: N requests per S seconds. */
function policy(name: string, limit: number, windowSeconds: number) {
  return optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,6}\/\d{1,7}$/, 'must look like LIMIT/WINDOW_SECONDS, e.g. 10/60')
      .optional()
      .transform((v): RatePolicy => {
        const [l, w] = v === undefined ? [limit, windowSeconds] : v.split('/').map(Number);
        return { name, limit: l, windowMs: w * 1000 };
      })
      .refine((p) => p.limit >= 1 && p.windowMs >= 1000, 'limit and window must be at least 1'),
  );
}

const envSchema = z.object({
  NODE_ENV: optionalString.pipe(
    z.enum(['development', 'production', 'test']).optional().transform((v) => v ?? 'development'),
  ),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalString.pipe(
    z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .optional()
      .transform((v) => (v ?? 'https://api.openai.com/v1').replace(/\/+$/, '')),
  ),
  ALLOWED_ORIGINS: optionalString,
  PRODUCTION_DOMAIN: optionalString.pipe(
    z
      .string()
      .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i, 'must be a bare domain name such as app.example.com')
      .optional(),
  ),
  JWT_SECRET: optionalString.pipe(
    z
      .string()
      .refine((v) => Buffer.byteLength(v, 'utf8') >= 32, 'must be at least 32 bytes')
      .optional(),
  ),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  JWT_MAX_AGE_SECONDS: intIn(60, 86_400, 3600),
  JWT_CLOCK_TOLERANCE_SECONDS: intIn(0, 300, 5),
  CLERK_SECRET_KEY: optionalString,
  NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY: optionalString,
  CLERK_JWT_KEY: optionalString,
  REDIS_URL: optionalString.pipe(
    z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional(),
  ),
  REDIS_TIMEOUT_MS: intIn(5, 10_000, 50),
  RATE_LIMIT_PREFIX: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9:_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 : _ -')
      .optional()
      .transform((v) => v ?? 'rl:'),
  ),
  TRUSTED_PROXY_HOPS: intIn(0, 10, 0),
  ALLOWED_VOICES: list(DEFAULT_ALLOWED_VOICES),
  ALLOWED_MODELS: list(DEFAULT_ALLOWED_MODELS),
  DEFAULT_VOICE: optionalString,
  DEFAULT_MODEL: optionalString,
  REALTIME_TOKEN_TTL_SECONDS: intIn(10, 7200, 60),
  UPSTREAM_TIMEOUT_MS: intIn(100, 120_000, 10_000),
  MAX_BODY_BYTES: intIn(256, 1_048_576, 16_384),
  RATE_LIMIT_TOKEN: policy('token', 10, 60),
  RATE_LIMIT_API: policy('api', 100, 60),
  RATE_LIMIT_AUTH_FAILURES: policy('auth', 20, 300),
  RATE_LIMIT_SUSPICIOUS: policy('suspicious', 10, 300),
  RATE_LIMIT_MAX_KEYS: intIn(100, 10_000_000, 100_000),
  RATE_LIMIT_SWEEP_SECONDS: intIn(1, 3600, 300),
});

/**
 * Canonical form of an origin, or `undefined` when the text is not a bare
 * origin (paths, queries, credentials, wildcards and `null` are refused).
 */
export function normalizeOrigin(text: string): string | undefined {
  // Backslashes too: WHATWG URL reads "\" as "/" in http(s), so "https://a.com\p" would silently drop a path.
  if (!/^https?:\/\/[^/\\?#*@\s]+$/i.test(text)) return undefined;
  try {
    const url = new URL(text);
    return url.origin === 'null' ? undefined : url.origin;
  } catch {
    return undefined;
  }
}

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Parses an environment into the app's configuration.
 * @throws {ConfigError} naming every bad variable; values are never included.
 */
export function loadConfig(env: Env = process.env): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${String(i.path[0])} ${i.message}`);
    const names = [...new Set(parsed.error.issues.map((i) => String(i.path[0])))];
    throw new ConfigError(names, `Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const isProduction = e.NODE_ENV === 'production';
  const fail = (name: string, why: string): never => {
    throw new ConfigError([name], `Invalid configuration: ${name} ${why}`);
  };

  const origins = new Set<string>();
  for (const raw of (e.ALLOWED_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const origin = normalizeOrigin(raw);
    if (origin === undefined) fail('ALLOWED_ORIGINS', 'must list bare origins like https://app.example.com (no wildcards, paths or null)');
    else if (isProduction && !origin.startsWith('https://') && !isLoopbackOrigin(origin)) {
      fail('ALLOWED_ORIGINS', 'must use https:// in production');
    } else origins.add(origin);
  }
  if (e.PRODUCTION_DOMAIN) origins.add(`https://${e.PRODUCTION_DOMAIN.toLowerCase()}`);
  if (e.ALLOWED_ORIGINS === undefined && !isProduction) origins.add('http://localhost:3000');

  for (const [name, values] of [['ALLOWED_VOICES', e.ALLOWED_VOICES], ['ALLOWED_MODELS', e.ALLOWED_MODELS]] as const) {
    if (values.length === 0) fail(name, 'must list at least one value');
    if (!values.every((v) => NAME_PATTERN.test(v))) fail(name, 'entries must be 1-64 characters of A-Z a-z 0-9 . _ -');
  }
  const defaultVoice = e.DEFAULT_VOICE ?? (e.ALLOWED_VOICES.includes('alloy') ? 'alloy' : e.ALLOWED_VOICES[0]);
  const defaultModel = e.DEFAULT_MODEL ?? (e.ALLOWED_MODELS.includes('gpt-realtime') ? 'gpt-realtime' : e.ALLOWED_MODELS[0]);
  if (!e.ALLOWED_VOICES.includes(defaultVoice)) fail('DEFAULT_VOICE', 'must be one of ALLOWED_VOICES');
  if (!e.ALLOWED_MODELS.includes(defaultModel)) fail('DEFAULT_MODEL', 'must be one of ALLOWED_MODELS');

  const clerkKeys = [e.CLERK_SECRET_KEY, e.NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY];
  if (clerkKeys.filter(Boolean).length === 1) {
    fail(e.CLERK_SECRET_KEY ? 'NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY' : 'CLERK_SECRET_KEY', 'must be set together with the other Clerk key');
  }
  // Clerk checks a token's azp only against a non-empty authorizedParties list.
  if (e.CLERK_SECRET_KEY && e.NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY && origins.size === 0) {
    fail('ALLOWED_ORIGINS', 'must list at least one origin when Clerk is configured');
  }
  if (e.CLERK_JWT_KEY && !/-----BEGIN PUBLIC KEY-----/.test(e.CLERK_JWT_KEY.replace(/\\n/g, '\n'))) {
    fail('CLERK_JWT_KEY', 'must be a PEM public key');
  }

  return {
    nodeEnv: e.NODE_ENV,
    isProduction,
    openai: {
      apiKey: e.OPENAI_API_KEY,
      baseUrl: e.OPENAI_BASE_URL,
      timeoutMs: e.UPSTREAM_TIMEOUT_MS,
      tokenTtlSeconds: e.REALTIME_TOKEN_TTL_SECONDS,
    },
    allowedOrigins: origins,
    jwt: e.JWT_SECRET
      ? {
          secret: new TextEncoder().encode(e.JWT_SECRET),
          issuer: e.JWT_ISSUER,
          audience: e.JWT_AUDIENCE,
          maxAgeSeconds: e.JWT_MAX_AGE_SECONDS,
          clockToleranceSeconds: e.JWT_CLOCK_TOLERANCE_SECONDS,
        }
      : undefined,
    clerk:
      e.CLERK_SECRET_KEY && e.NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY
        ? {
            secretKey: e.CLERK_SECRET_KEY,
            publishableKey: e.NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY,
            // Operators often paste PEMs into one-line env files with literal "\n".
            jwtKey: e.CLERK_JWT_KEY?.replace(/\\n/g, '\n'),
          }
        : undefined,
    redisUrl: e.REDIS_URL,
    redisTimeoutMs: e.REDIS_TIMEOUT_MS,
    rateLimitPrefix: e.RATE_LIMIT_PREFIX,
    trustedProxyHops: e.TRUSTED_PROXY_HOPS,
    voices: e.ALLOWED_VOICES,
    models: e.ALLOWED_MODELS,
    defaultVoice,
    defaultModel,
    maxBodyBytes: e.MAX_BODY_BYTES,
    rateLimits: {
      token: e.RATE_LIMIT_TOKEN,
      api: e.RATE_LIMIT_API,
      authFailures: e.RATE_LIMIT_AUTH_FAILURES,
      suspicious: e.RATE_LIMIT_SUSPICIOUS,
    },
    rateLimitMaxKeys: e.RATE_LIMIT_MAX_KEYS,
    rateLimitSweepMs: e.RATE_LIMIT_SWEEP_SECONDS * 1000,
  };
}

function isLoopbackOrigin(origin: string): boolean {
  const host = new URL(origin).hostname;
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}

const CONFIG_KEY = Symbol.for('realtime-token-guard.config');
type ConfigHolder = { [CONFIG_KEY]?: AppConfig };

/**
 * The process-wide configuration, parsed on first use and shared by every
 * route bundle and the middleware (they are separate module graphs in Next).
 */
export function getConfig(): AppConfig {
  const holder = globalThis as ConfigHolder;
  return (holder[CONFIG_KEY] ??= loadConfig());
}

/** Drops the cached configuration so the next {@link getConfig} re-reads the environment (tests). */
export function resetConfig(): void {
  delete (globalThis as ConfigHolder)[CONFIG_KEY];
}
