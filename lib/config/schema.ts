import { z } from 'zod';
import type { RatePolicy } from '../limits/store';
import { callsEnv } from './calls';
import { redisEnv } from './redis';

/**
 * The environment schema: every variable the server reads, with its rule and
 * default. `lib/config/index.ts` runs it (plus the cross-variable rules) and
 * `scripts/validate-security.js` runs the same schema, so the two cannot drift.
 *
 * Rules: an empty string means unset; a failed rule names the variable, never its value.
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

/** JWS algorithms a JWKS may be used with (RFC 7518 §3.1, RFC 8037); never `none`, never HS*. */
export const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export const DEFAULT_JWKS_ALGORITHMS = ['RS256'];

export type Env = Record<string, string | undefined>;

export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

export function intIn(min: number, max: number, fallback: number) {
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

export function list(fallback: readonly string[]) {
  return optionalString.transform((v) =>
    v === undefined
      ? [...fallback]
      : v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
  );
}

/** One of `values`, else `fallback`. */
function choice<const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) {
  return optionalString.pipe(z.enum(values).optional().transform((v) => v ?? fallback));
}

/** An HS256 secret: at least 32 bytes (RFC 7518 §3.2: a key as long as the hash output). */
function secret() {
  return optionalString.pipe(
    z
      .string()
      .refine((v) => Buffer.byteLength(v, 'utf8') >= 32, 'must be at least 32 bytes')
      .optional(),
  );
}

/** `"N/S"`: N requests per S seconds. */
export function policy(name: string, limit: number, windowSeconds: number) {
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

export const envSchema = z.object({
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
  JWT_SECRET: secret(),
  JWT_SECRET_PREVIOUS: secret(),
  JWT_JWKS_URL: optionalString.pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional()),
  JWT_ALGORITHMS: optionalString,
  JWT_JWKS_TIMEOUT_MS: intIn(100, 30_000, 3000),
  JWT_JWKS_COOLDOWN_SECONDS: intIn(1, 3600, 30),
  JWT_JWKS_CACHE_SECONDS: intIn(1, 86_400, 600),
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
  // 0 (the default): derived from the open-files limit at start (server/front-door.ts).
  MAX_CONNECTIONS: intIn(0, 1_000_000, 0),
  MAX_CONNECTIONS_PER_IP: intIn(1, 100_000, 64),
  CLIENT_IP_HEADER: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z0-9-]{1,64}$/i, 'must be one header name such as cf-connecting-ip')
      .refine((v) => v.toLowerCase() !== 'x-forwarded-for', 'must name a header the platform sets alone, not x-forwarded-for')
      .optional()
      .transform((v) => v?.toLowerCase()),
  ),
  // Abuse controls (README "Abuse controls"); the cross-variable rules are in lib/config/abuse.ts.
  GEO_ALLOW_COUNTRIES: list([]),
  GEO_DENY_COUNTRIES: list([]),
  GEO_UNKNOWN: choice(['allow', 'deny'], 'allow'),
  CLIENT_COUNTRY_HEADER: optionalString.pipe(z.string().regex(/^[a-z0-9-]{1,64}$/i, 'must be one header name such as cf-ipcountry').optional().transform((v) => v?.toLowerCase())),
  DENY_USERS: list([]),
  DENY_IPS: list([]),
  DENY_LIST_FILE: optionalString,
  ANOMALY_MODE: choice(['off', 'log', 'block'], 'log'),
  ANOMALY_MAX_NETWORKS: intIn(1, 1000, 5),
  ANOMALY_TRAVEL_MINUTES: intIn(1, 1440, 60),
  ANOMALY_SPIKE_FACTOR: intIn(2, 1000, 4),
  ANOMALY_SPIKE_FLOOR: intIn(1, 100_000, 20),
  ANOMALY_COOLOFF_SECONDS: intIn(1, 86_400, 900),
  RATE_LIMIT_TOKEN_DAILY: policy('token_daily', 200, 86_400),
  RATE_LIMIT_GLOBAL: policy('global', 1000, 60),
  UPSTREAM_QUOTA_COOLOFF_SECONDS: intIn(0, 3600, 60),
  PLANS: list([]),
  CLERK_PLAN_CLAIM: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,3}$/, 'must be a claim name or a dotted path such as metadata.plan')
      .optional()
      .transform((v) => v ?? 'plan'),
  ),
  GUARD_DRY_RUN: list([]),
  RTG_FRONT_DOOR_MARKER: optionalString.pipe(z.string().regex(/^[0-9a-f]{32}$/, 'is set by the front door').optional()),
  ...callsEnv(optionalString, intIn),
  // Metrics and alerts (README "Metrics and alerts"); built into config.metrics / config.alerts by lib/config/observability.ts.
  METRICS_TOKEN: optionalString.pipe(
    z
      .string()
      .regex(/^[\x21-\x7e]{32,512}$/, 'must be 32-512 printable characters without spaces (e.g. openssl rand -hex 32)')
      .optional(),
  ),
  ALERT_WEBHOOK_URL: optionalString.pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional()),
  ALERT_TIMEOUT_MS: intIn(100, 10_000, 2000),
  ALERT_MIN_INTERVAL_MS: intIn(0, 86_400_000, 60_000),
  // End of metrics and alerts.
  // Redis beyond one node (README "Running several instances"): Cluster or Sentinel instead of
  // REDIS_URL, with their credentials and TLS; the rules are in lib/config/redis.ts.
  ...redisEnv(optionalString),
});


/** The parsed environment (every default applied). */
export type ParsedEnv = z.output<typeof envSchema>;

/** Every variable the schema knows, for `.env.example` checks. */
export const ENV_KEYS: readonly string[] = Object.keys(envSchema.shape);
