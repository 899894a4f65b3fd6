import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type Redis from 'ioredis';
import { vi } from 'vitest';
import { freePort, redisServerBinary, startRedis, type RedisServer } from './redis';
import type { TlsFiles } from './tls-files';

/**
 * Redis beyond one node, for tests, with real processes on free loopback
 * ports (never the shared Redis on 6379): a Redis Cluster of three primaries
 * made with `redis-cli --cluster create`, and a Sentinel set (a primary, one
 * replica, one sentinel). Each hands out the environment that points the app
 * at it (lib/config/redis.ts).
 */

const run = promisify(execFile);

/** A primary starts a replica's full sync at once, not after the default 5 s wait for more replicas. */
const SYNC_AT_ONCE = ['--repl-diskless-sync-delay', '0'];

function redisCli(): string {
  return join(dirname(redisServerBinary()), 'redis-cli');
}

export interface RedisClusterServers {
  /** Every node (primaries and replicas); `nodes[i].stop()` kills one, `start()` brings it back with its nodes.conf (same id and slots). */
  readonly nodes: readonly RedisServer[];
  /** `REDIS_CLUSTER_NODES` naming every node. */
  readonly env: Record<string, string>;
  /** A reused inspecting connection to `node`. */
  client(node: RedisServer): Redis;
  /** The slot of `key`, as the cluster computes it (`CLUSTER KEYSLOT`). */
  keyslot(key: string): Promise<number>;
  /** The primary serving `slot` (`CLUSTER SLOTS`, asked of a running node). */
  nodeFor(slot: number): Promise<RedisServer>;
  /** The replicas of the primary serving `slot`. */
  replicasFor(slot: number): Promise<RedisServer[]>;
  /** Resolves once every running node reports `cluster_state:<state>`. */
  waitForState(state: 'ok' | 'fail', timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Three cluster-enabled primaries, with `replicas: 1` one replica each (six
 * nodes), and a short `cluster-node-timeout` so a killed node is marked
 * failed (the cluster `fail`, as full coverage is required, until a replica
 * takes over) within about a second.
 */
export interface ClusterOptions {
  nodeTimeoutMs?: number;
  replicas?: 0 | 1;
  /** `requirepass` of the default user (the admin connections and redis-cli use it). */
  password?: string;
  /** More server arguments for every node (an ACL `--user …`). */
  args?: readonly string[];
  /**
   * TLS: each node also listens with TLS on a port of its own, and the
   * cluster bus uses TLS (`--tls-cluster yes`); `env` then names the TLS
   * ports with `REDIS_TLS=1`. The plaintext port stays for inspection.
   */
  tls?: TlsFiles;
}

export async function startRedisCluster(options: ClusterOptions = {}): Promise<RedisClusterServers> {
  const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1000), ...SYNC_AT_ONCE, ...(options.args ?? [])];
  if (options.password) args.push('--masterauth', options.password);
  const replicas = options.replicas ?? 0;
  const { tls, password } = options;
  const count = 3 * (1 + replicas);
  const tlsPorts = tls ? await Promise.all(Array.from({ length: count }, () => freePort())) : [];
  const tlsArgs = (i: number) =>
    tls ? ['--tls-port', String(tlsPorts[i]), '--tls-cluster', 'yes', '--tls-replication', 'yes', '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no'] : [];
  const nodes = await Promise.all(Array.from({ length: count }, (_, i) => startRedis({ password, args: [...args, ...tlsArgs(i)] })));
  const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
  /** The nodes serving `slot`, primary first. */
  const servingSlot = async (slot: number): Promise<RedisServer[]> => {
    const ranges = (await running(nodes).client().call('CLUSTER', 'SLOTS')) as Array<[number, number, ...Array<[string, number]>]>;
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    const ports = (range?.slice(2) ?? []) as Array<[string, number]>;
    return ports.map(([, port]) => nodes.find((n) => n.port === Number(port))).filter((n): n is RedisServer => n !== undefined);
  };
  const servers: RedisClusterServers = {
    nodes,
    client: clientOf,
    env: tls ? { REDIS_CLUSTER_NODES: tlsPorts.map((p) => `127.0.0.1:${p}`).join(','), REDIS_TLS: '1' } : { REDIS_CLUSTER_NODES: addresses.join(',') },
    async keyslot(key) {
      return Number(await running(nodes).client().call('CLUSTER', 'KEYSLOT', key));
    },
    async nodeFor(slot) {
      const [primary] = await servingSlot(slot);
      if (!primary) throw new Error(`no node serves slot ${slot}`);
      return primary;
    },
    async replicasFor(slot) {
      const primary = await servers.nodeFor(slot);
      const roles = await Promise.all(nodes.map(roleOf));
      return nodes.filter((_, i) => roles[i].replicaOf === primary.port);
    },
    async waitForState(state, timeoutMs = 10_000) {
      await vi.waitFor(
        async () => {
          for (const node of nodes.filter((n) => n.running)) {
            const info = String(await clientOf(node).call('CLUSTER', 'INFO'));
            if (!info.includes(`cluster_state:${state}`)) throw new Error(`node ${node.port}: not ${state}`);
          }
        },
        { timeout: timeoutMs, interval: 50 },
      );
    },
    async close() {
      await Promise.all(nodes.map((n) => n.close()));
    },
  };
  try {
    const auth = password ? ['-a', password, '--no-auth-warning'] : [];
    await run(redisCli(), [...auth, '--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 15_000 });
    await servers.waitForState('ok');
    if (replicas > 0) {
      // A failover needs replicas that are attached and in sync. ROLE says so at once; CLUSTER
      // SLOTS lists replicas only some seconds later (about 9 s here, Redis 7.0).
      await vi.waitFor(
        async () => {
          const roles = await Promise.all(nodes.map(roleOf));
          const synced = roles.filter((r) => r.replicaOf !== undefined && r.connected);
          if (synced.length !== 3 * replicas) throw new Error('replicas not in sync yet');
        },
        { timeout: 15_000, interval: 100 },
      );
    }
  } catch (error) {
    await servers.close();
    throw error;
  }
  return servers;
}

/** `ROLE`: whose replica a node is (its primary's port), and whether its link is up. */
async function roleOf(node: RedisServer): Promise<{ replicaOf: number | undefined; connected: boolean }> {
  const role = (await clientOf(node).call('ROLE')) as [string, ...unknown[]];
  if (role[0] !== 'slave') return { replicaOf: undefined, connected: false };
  return { replicaOf: Number(role[2]), connected: role[3] === 'connected' };
}

function running(nodes: readonly RedisServer[]): { client(): Redis } {
  const node = nodes.find((n) => n.running);
  if (!node) throw new Error('no cluster node runs');
  return { client: () => clientOf(node) };
}

// One inspecting connection per server, reused by every poll (it reconnects after a restart).
const clients = new WeakMap<RedisServer, Redis>();
function clientOf(server: RedisServer): Redis {
  let client = clients.get(server);
  if (client === undefined) clients.set(server, (client = server.client()));
  return client;
}

export interface RedisSentinelServers {
  /** The primary at start. */
  readonly primary: RedisServer;
  /** Its replica, which the sentinel promotes when the primary dies. */
  readonly replica: RedisServer;
  readonly sentinel: RedisServer;
  /** The monitored name (`mymaster`). */
  readonly name: string;
  /** `REDIS_SENTINELS` and `REDIS_SENTINEL_NAME`. */
  readonly env: Record<string, string>;
  /** A reused inspecting connection to `server`. */
  client(server: RedisServer): Redis;
  /** The port the sentinel names as primary now (`SENTINEL get-master-addr-by-name`). */
  primaryPort(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A primary, one replica (`--replicaof`) and one sentinel with quorum 1 that
 * calls the primary down after 500 ms. Resolves once the sentinel knows the
 * replica, so a failover can promote it.
 */
export async function startRedisSentinel(): Promise<RedisSentinelServers> {
  const name = 'mymaster';
  const primary = await startRedis({ args: SYNC_AT_ONCE });
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port), ...SYNC_AT_ONCE] });
  const sentinel = await startRedis({
    sentinelConfig: [
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
      `sentinel down-after-milliseconds ${name} 500`,
      `sentinel failover-timeout ${name} 2000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  });
  const servers: RedisSentinelServers = {
    primary,
    replica,
    sentinel,
    name,
    client: clientOf,
    env: { REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`, REDIS_SENTINEL_NAME: name },
    async primaryPort() {
      const [, port] = (await clientOf(sentinel).call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string];
      return Number(port);
    },
    async close() {
      await Promise.all([sentinel.close(), replica.close(), primary.close()]);
    },
  };
  try {
    await vi.waitFor(
      async () => {
        const replicas = (await clientOf(sentinel).call('SENTINEL', 'replicas', name)) as string[][];
        const known = replicas.some((fields) => fields.includes(String(replica.port)) && !fields.join(',').includes('s_down'));
        if (!known) throw new Error('the sentinel does not know the replica yet');
        const link = await clientOf(replica).info('replication');
        if (!link.includes('master_link_status:up')) throw new Error('the replica is not in sync yet');
      },
      { timeout: 15_000, interval: 100 },
    );
  } catch (error) {
    await servers.close();
    throw error;
  }
  return servers;
}
