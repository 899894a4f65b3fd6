import type { RatePolicy } from '../limits/store';
import { normalizeOrigin } from '../origin';
import { abuseConfig, type AbuseConfig } from './abuse';
import { jwksConfig, jwtConfig, type JwksConfig, type JwtConfig } from './auth';
import { callsConfig, type CallsConfig } from './calls';
import { isLoopbackHost, isTlsOrLoopback } from './hosts';
import { observabilityConfig, type AlertsConfig, type MetricsConfig } from './observability';
import { redisConfig, type RedisConnection } from './redis';
import { envSchema, type Env } from './schema';

export { CORE_GUARDS, DRY_RUN_GUARDS, type AbuseConfig, type AnomalyConfig, type GeoConfig, type PlanPolicies } from './abuse';
export type { JwksConfig, JwtConfig, JwtKeyId } from './auth';
export type { AlertsConfig, MetricsConfig } from './observability';
export { redisConfigured, type RedisConnection, type RedisNode } from './redis';
export { DEFAULT_ALLOWED_MODELS, DEFAULT_ALLOWED_VOICES, ENV_KEYS, envSchema, REALTIME_VOICES } from './schema';

/**
 * The one place that reads `process.env`. Everything the server
 * needs is parsed here once, when the server starts, so a deployment changes
 * behaviour with a restart and never needs a rebuild.
 *
 * Rules: an empty string means unset; a bad value throws a {@link ConfigError}
 * that names the variable and never echoes its value.
 */

export interface AppConfig extends AbuseConfig {
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
  /** HS256 tokens for direct API access (`JWT_SECRET`, `JWT_SECRET_PREVIOUS`). */
  readonly jwt: JwtConfig | undefined;
  /** Asymmetric tokens from an identity provider (`JWT_JWKS_URL`). */
  readonly jwks: JwksConfig | undefined;
  readonly clerk:
    | {
        readonly secretKey: string;
        readonly publishableKey: string;
        readonly jwtKey: string | undefined;
      }
    | undefined;
  /** `REDIS_URL` (single-server mode only); whether Redis is used at all is {@link AppConfig.redis}. */
  readonly redisUrl: string | undefined;
  /** The shared store: one server, a Cluster or a Sentinel-managed primary; undefined: memory only. */
  readonly redis: RedisConnection | undefined;
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
  /** Open connections in total; 0: derived from the open-files limit by the front door. */
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  /** The one platform header trusted for the client IP where the front door cannot run. */
  readonly clientIpHeader: string | undefined;
  /** The value the front door stamps on every request it forwards (`x-rtg-front-door`). */
  readonly frontDoorMarker: string | undefined;
  /** The server-side calls path (lib/config/calls.ts). */
  readonly calls: CallsConfig;
  /** GET /api/metrics (lib/config/observability.ts). */
  readonly metrics: MetricsConfig;
  /** The alert webhook (lib/config/observability.ts). */
  readonly alerts: AlertsConfig;
}

/** Thrown for a bad or missing setting; the message names variables, never values. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly variables: readonly string[], message: string) {
    super(message);
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

  // The server key travels in the Authorization header of every upstream call.
  if (isProduction && !isTlsOrLoopback(e.OPENAI_BASE_URL)) fail('OPENAI_BASE_URL', 'must use https:// in production (loopback excepted)');

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
    jwt: jwtConfig(e, fail),
    jwks: jwksConfig(e, isProduction, fail),
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
    redis: redisConfig(e, fail),
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
    maxConnections: e.MAX_CONNECTIONS,
    maxConnectionsPerIp: e.MAX_CONNECTIONS_PER_IP,
    clientIpHeader: e.CLIENT_IP_HEADER,
    frontDoorMarker: e.RTG_FRONT_DOOR_MARKER,
    calls: callsConfig(e),
    ...observabilityConfig(e, isProduction, fail),
    ...abuseConfig(e, env, fail),
  };
}

function isLoopbackOrigin(origin: string): boolean {
  return isLoopbackHost(new URL(origin).hostname);
}
