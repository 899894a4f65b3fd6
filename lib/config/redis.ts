import { z } from 'zod';

/**
 * Where the shared limiter store lives (README "Running several instances",
 * "Redis"): one server (`REDIS_URL`), a Redis Cluster (`REDIS_CLUSTER_NODES`)
 * or a Sentinel-managed primary (`REDIS_SENTINELS` + `REDIS_SENTINEL_NAME`).
 * The variables are spread into `envSchema` (lib/config/schema.ts); the
 * `config.redis` block is built here. At most one mode may be set.
 */

/** One `host:port` of a cluster seed list or a sentinel list. */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** Credentials and TLS for cluster and sentinel modes (a single server carries them in its URL). */
export interface RedisAuth {
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly tls: boolean;
}

export type RedisConnection =
  | { readonly mode: 'single'; readonly url: string }
  | ({ readonly mode: 'cluster'; readonly nodes: readonly RedisNode[] } & RedisAuth)
  | ({
      readonly mode: 'sentinel';
      readonly sentinels: readonly RedisNode[];
      /** The monitored primary's name (`sentinel monitor <name> …`). */
      readonly name: string;
      readonly sentinelUsername: string | undefined;
      readonly sentinelPassword: string | undefined;
    } & RedisAuth);

type Optional = z.ZodType<string | undefined, string | undefined>;

// host:port, host a name, an IPv4 address or a bracketed IPv6 address.
const NODE = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?):(\d{1,5})$/i;

function parseNode(entry: string): RedisNode | undefined {
  const m = NODE.exec(entry);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65_535) return undefined;
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/** The variables, built with the schema's own `optionalString` (passed in, as lib/config/calls.ts does). */
export function redisEnv(optional: Optional) {
  const nodes = (example: string) =>
    optional.pipe(
      z
        .string()
        .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
        .transform((list, ctx): RedisNode[] => {
          const parsed = list.map(parseNode);
          // The message names the rule, never the entry (it may carry a private host name).
          if (list.length === 0 || parsed.some((n) => n === undefined)) ctx.addIssue({ code: 'custom', message: `must be a comma-separated list of host:port, e.g. ${example}` });
          return parsed.filter((n): n is RedisNode => n !== undefined);
        })
        .optional(),
    );
  return {
    REDIS_CLUSTER_NODES: nodes('10.0.0.1:6379,10.0.0.2:6379'),
    REDIS_SENTINELS: nodes('10.0.0.1:26379,10.0.0.2:26379'),
    REDIS_SENTINEL_NAME: optional.pipe(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ -').optional()),
    REDIS_USERNAME: optional,
    REDIS_PASSWORD: optional,
    REDIS_SENTINEL_USERNAME: optional,
    REDIS_SENTINEL_PASSWORD: optional,
    REDIS_TLS: optional.pipe(z.enum(['0', '1'], { error: 'must be 0 or 1' }).optional().transform((v) => v === '1')),
  };
}

type RedisEnv = { [K in keyof ReturnType<typeof redisEnv>]?: z.output<ReturnType<typeof redisEnv>[K]> } & { readonly REDIS_URL?: string | undefined };
type Fail = (name: string, why: string) => never;

/** `config.redis`: which Redis, if any; `fail` names a variable for each rule broken. */
export function redisConfig(e: RedisEnv, fail: Fail): RedisConnection | undefined {
  const modes = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter((name) => e[name] !== undefined);
  if (modes.length > 1) fail(modes[1], `must not be set together with ${modes[0]}: set exactly one of REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS`);
  const auth: RedisAuth = { username: e.REDIS_USERNAME, password: e.REDIS_PASSWORD, tls: e.REDIS_TLS === true };
  const sentinelOnly = ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD'] as const;
  if (e.REDIS_SENTINELS === undefined) {
    for (const name of sentinelOnly) if (e[name] !== undefined) fail(name, 'is only read with REDIS_SENTINELS');
  }
  if (e.REDIS_URL !== undefined || modes.length === 0) {
    // A single server takes its credentials and TLS from its URL (redis://user:pass@host, rediss://).
    for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'] as const) {
      if (name === 'REDIS_TLS' ? e.REDIS_TLS : e[name] !== undefined) {
        fail(name, modes.length === 0 ? 'is only read with REDIS_CLUSTER_NODES or REDIS_SENTINELS' : 'is not read with REDIS_URL: put credentials in the URL and use rediss:// for TLS');
      }
    }
    return e.REDIS_URL === undefined ? undefined : { mode: 'single', url: e.REDIS_URL };
  }
  if (e.REDIS_CLUSTER_NODES !== undefined) return { mode: 'cluster', nodes: e.REDIS_CLUSTER_NODES, ...auth };
  const sentinels = e.REDIS_SENTINELS!;
  if (e.REDIS_SENTINEL_NAME === undefined) return fail('REDIS_SENTINEL_NAME', 'must name the monitored primary when REDIS_SENTINELS is set');
  return {
    mode: 'sentinel',
    sentinels,
    name: e.REDIS_SENTINEL_NAME,
    sentinelUsername: e.REDIS_SENTINEL_USERNAME,
    sentinelPassword: e.REDIS_SENTINEL_PASSWORD,
    ...auth,
  };
}

/** Whether the limiter (and the calls registry) share state through Redis. */
export const redisConfigured = (config: { readonly redis: RedisConnection | undefined }): boolean => config.redis !== undefined;

/** The hosts the app connects to in `redis`'s mode (for the cleartext warning). */
export function redisHosts(redis: RedisConnection): string[] {
  if (redis.mode === 'single') return [new URL(redis.url).hostname];
  return (redis.mode === 'cluster' ? redis.nodes : redis.sentinels).map((n) => n.host);
}
