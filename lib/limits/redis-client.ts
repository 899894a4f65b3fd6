import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConnection } from '../config/redis';

/**
 * The one place that builds an ioredis client from `config.redis`
 * (lib/config/redis.ts): a single server, a Redis Cluster or a primary found
 * through Sentinel. Every mode gets the same fail-fast behaviour, because the
 * limiter's caller (lib/limits/resilient.ts) answers from memory the moment a
 * command fails, and a command that ran late would record an admit the
 * fallback already answered for.
 */

export type RedisClient = Redis | Cluster;

export interface RedisClientOptions {
  /** Deadline per command in ms; a late answer is a failure. */
  readonly commandTimeoutMs: number;
  /** Deadline for a TCP (and TLS) connect in ms. */
  readonly connectTimeoutMs: number;
  /** Longest pause between reconnect attempts in ms (default 1000). */
  readonly maxReconnectDelayMs?: number;
  /** Connect on the first command (or `connect()`) instead of at once (default true). */
  readonly lazyConnect?: boolean;
  /**
   * Queue commands while (re)connecting and retry a failed one this many
   * times (default: no queue, no retry). Only for callers without a fallback
   * whose writes are idempotent (lib/calls/registry-redis.ts).
   */
  readonly queueWhileConnecting?: { readonly retries: number };
}

/** Errors a demoted primary answers writes with, after a failover behind one endpoint or through Sentinel. */
const DEMOTED = /^READONLY\b/;

/**
 * Builds the client for `connection`. It has an `error` listener already:
 * ioredis prints unhandled errors, which name hosts, to stderr.
 */
export function createRedisClient(connection: RedisConnection, options: RedisClientOptions): RedisClient {
  const maxDelay = options.maxReconnectDelayMs ?? 1000;
  const queue = options.queueWhileConnecting;
  const retry = (times: number) => Math.min(times * 100, maxDelay);
  const node: RedisOptions = {
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: queue?.retries ?? 0,
    // A command that timed out must not run later on a new connection.
    autoResendUnfulfilledCommands: queue !== undefined,
    // Wait for a restarting server to finish loading (and, through Sentinel, check its role).
    enableReadyCheck: true,
  };
  const client = build(connection, options.lazyConnect ?? true, queue !== undefined, node, retry);
  client.on('error', () => {});
  // ioredis ends a client for good when a connect attempt itself fails (not the socket: the
  // connector, e.g. a Sentinel lookup aborted midway; Redis.js sets status "end" without
  // retrying). Only closeRedisClient may end it: otherwise connect again, after a pause.
  client.on('end', () => {
    if (closing.has(client)) return;
    setTimeout(() => {
      if (!closing.has(client) && client.status === 'end') client.connect().catch(() => {});
    }, maxDelay).unref?.();
  });
  return client;
}

/** Clients being closed on purpose (closeRedisClient): they stay ended. */
const closing = new WeakSet<RedisClient>();

function build(connection: RedisConnection, lazyConnect: boolean, queued: boolean, node: RedisOptions, retry: (times: number) => number): RedisClient {
  // A write refused by a demoted primary: reconnect (Sentinel then names the new one); the
  // command itself fails, and the fallback answers it (ioredis README "Reconnect on error").
  const reconnectOnError = (error: Error) => (DEMOTED.test(error.message) ? 1 : false);
  if (connection.mode === 'single') {
    return new Redis(connection.url, { ...node, lazyConnect, enableOfflineQueue: queued, retryStrategy: retry, reconnectOnError });
  }
  const tls = connection.tls ? {} : undefined;
  const auth = { username: connection.username, password: connection.password, tls };
  if (connection.mode === 'sentinel') {
    return new Redis({
      ...node,
      ...auth,
      lazyConnect,
      enableOfflineQueue: queued,
      retryStrategy: retry,
      reconnectOnError,
      sentinels: connection.sentinels.map(({ host, port }) => ({ host, port })),
      name: connection.name,
      role: 'master',
      sentinelUsername: connection.sentinelUsername,
      sentinelPassword: connection.sentinelPassword,
      enableTLSForSentinelMode: connection.tls,
      sentinelTLS: tls,
      sentinelCommandTimeout: node.connectTimeout,
      sentinelRetryStrategy: retry,
      // No `failoverDetector` (ioredis PR #1328): its +switch-master handler disconnects the
      // connector, and when that lands while a reconnect is asking the sentinels (the usual
      // case after a crash), ioredis 5.11 rejects the connect and ends the client for good
      // (Redis.js: connector error -> status "end", no retry). With it on, about one run in three
      // of tests/reliability/redis-sentinel.test.ts never recovered; with it off, none did.
      // A dead primary drops the connection, and a
      // demoted one answers READONLY (reconnectOnError above): both make it ask again.
    });
  }
  const cluster: ClusterOptions = {
    lazyConnect,
    // Cluster-level queue: with it off a command fails while the slot map is (re)loading.
    // The node connections keep their own queue on (ioredis forces it, PR #649), but a
    // command is only handed to a node that is ready or not yet connected.
    enableOfflineQueue: queued,
    enableReadyCheck: true,
    clusterRetryStrategy: retry,
    // Nodes that restart with the same slots come back without waiting for a MOVED (PR #2096).
    clusterNodeRetryStrategy: retry,
    // No delayed retries on a closed connection or CLUSTERDOWN: a retry after the deadline would
    // still run the script, counting an admit the fallback already answered for. MOVED replies
    // and a periodic slot refresh keep the map current: the refresh is what finds a replica
    // promoted after its primary died (ioredis has no refresh interval unless asked).
    slotsRefreshInterval: 2000,
    retryDelayOnFailover: queued ? 100 : 0,
    retryDelayOnClusterDown: queued ? 100 : 0,
    retryDelayOnTryAgain: queued ? 100 : 0,
    slotsRefreshTimeout: node.connectTimeout,
    // Limiter checks write: always the primary of the slot.
    scaleReads: 'master',
    redisOptions: { ...node, ...auth },
    // With TLS, keep host names so certificates verify (ioredis README, "Special note: AWS
    // ElastiCache Clusters with TLS"): resolving them first would check the IP instead.
    ...(tls ? { dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address) } : {}),
  };
  return new Cluster(
    connection.nodes.map(({ host, port }) => ({ host, port })),
    cluster,
  );
}

/**
 * Caches `scripts` on the server(s), so checks can be called by SHA: every
 * primary of a cluster (a script cache is per node), else the one server.
 * Failures are ignored: a NOSCRIPT reply makes the caller send the source.
 */
export function loadScripts(client: RedisClient, scripts: readonly string[]): void {
  const targets: Array<Pick<Redis, 'script'>> = client instanceof Cluster ? client.nodes('master') : [client];
  for (const target of targets) for (const lua of scripts) target.script('LOAD', lua).catch(() => {});
}

/**
 * Resolves once `client` is ready, fails for good, or `timeoutMs` passes,
 * whichever comes first (connecting a lazy client). A cluster is ready once
 * its slot map is loaded and every primary's connection is up too: ioredis
 * connects nodes on their first command and, without the offline queue,
 * refuses every other command sent while that node is still connecting.
 */
export function firstConnect(client: RedisClient, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const listening = new Map<Redis | RedisClient, () => void>();
    const done = () => {
      clearTimeout(timer);
      for (const [emitter, listener] of listening) for (const event of ['ready', 'error', 'end']) emitter.off(event, listener);
      listening.clear();
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref?.();
    const settle = (emitter: Redis | RedisClient, listener: () => void) => {
      listening.set(emitter, listener);
      for (const event of ['ready', 'error', 'end']) emitter.once(event, listener);
    };
    settle(client, () => {
      if (!(client instanceof Cluster) || client.status !== 'ready') return done();
      const pending = client.nodes('master').filter((node) => node.status !== 'ready');
      let left = pending.length;
      if (left === 0) return done();
      for (const node of pending) {
        settle(node, () => {
          if (--left === 0) done();
        });
        if (node.status === 'wait') node.connect().catch(() => {});
      }
    });
    if (client.status === 'wait') client.connect().catch(() => {});
  });
}

/**
 * Closes `client` for good: QUIT when connected (the server sees a clean goodbye,
 * after the last answer), then drop the socket(s). `quit: false` only drops them.
 */
export async function closeRedisClient(client: RedisClient, options: { quit?: boolean } = {}): Promise<void> {
  closing.add(client);
  if ((options.quit ?? true) && client.status === 'ready') await client.quit().catch(() => {});
  client.disconnect();
}
