import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RedisConnection } from '@/lib/config';
import { closeRedisClient, createRedisClient, type RedisClient } from '@/lib/limits/redis-client';
import { startRedis, type RedisServer } from '../support/redis';

/**
 * lib/limits/redis-client.ts: the same fail-fast client in every mode (the
 * option values the limiter's failure policy depends on), and a client that
 * only closeRedisClient can end. Cluster and Sentinel behaviour against real
 * servers: tests/reliability/redis-cluster.test.ts, redis-sentinel.test.ts.
 */

const TIMING = { commandTimeoutMs: 75, connectTimeoutMs: 400, maxReconnectDelayMs: 100 };
const created: RedisClient[] = [];
const make = (connection: RedisConnection, options: Parameters<typeof createRedisClient>[1] = TIMING) => {
  const client = createRedisClient(connection, options);
  created.push(client);
  return client;
};
let server: RedisServer;

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await Promise.all(created.map((c) => closeRedisClient(c, { quit: false })));
  await server.close();
});

const FAIL_FAST = { commandTimeout: 75, connectTimeout: 400, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, enableReadyCheck: true };

describe('fail-fast options in every mode', () => {
  it('one server: no offline queue, no retry, no re-send, the command deadline', () => {
    const client = make({ mode: 'single', url: server.url });
    expect(client).not.toBeInstanceOf(Cluster);
    expect((client as Exclude<RedisClient, Cluster>).options).toMatchObject({ ...FAIL_FAST, enableOfflineQueue: false, lazyConnect: true });
  });

  it('cluster: no queue at the cluster, no delayed retries, the same options on every node, TLS keeping host names', () => {
    const client = make({ mode: 'cluster', nodes: [{ host: 'cache.internal', port: 7000 }], username: 'app', password: 'pw', tls: true }) as Cluster;
    expect(client).toBeInstanceOf(Cluster);
    expect(client.options).toMatchObject({ enableOfflineQueue: false, enableReadyCheck: true, retryDelayOnFailover: 0, retryDelayOnClusterDown: 0, retryDelayOnTryAgain: 0, scaleReads: 'master' });
    expect(client.options.redisOptions).toMatchObject({ ...FAIL_FAST, username: 'app', password: 'pw', tls: {} });
    const resolved = vi.fn();
    client.options.dnsLookup!('cache.internal', resolved);
    expect(resolved).toHaveBeenCalledWith(null, 'cache.internal');
  });

  it('sentinel: the primary by name, sentinel credentials apart, no failover detector', () => {
    const client = make({ mode: 'sentinel', sentinels: [{ host: 's1', port: 26379 }], name: 'mymaster', username: undefined, password: 'data', sentinelUsername: undefined, sentinelPassword: 'sent', tls: false });
    const options = (client as Exclude<RedisClient, Cluster>).options;
    expect(options).toMatchObject({ ...FAIL_FAST, enableOfflineQueue: false, name: 'mymaster', role: 'master', password: 'data', sentinelPassword: 'sent', sentinels: [{ host: 's1', port: 26379 }] });
    expect(options.failoverDetector).toBeFalsy();
  });

  it('a caller that asks for a queue (the call registry) gets it, and its retries', () => {
    const client = make({ mode: 'single', url: server.url }, { ...TIMING, lazyConnect: false, queueWhileConnecting: { retries: 1 } });
    expect((client as Exclude<RedisClient, Cluster>).options).toMatchObject({ enableOfflineQueue: true, maxRetriesPerRequest: 1, lazyConnect: false });
  });
});

describe('only closeRedisClient ends a client', () => {
  it('a client ioredis ended by itself connects again; a closed one stays closed, after saying QUIT', async () => {
    const client = make({ mode: 'single', url: server.url });
    await client.connect();
    expect(await client.ping()).toBe('PONG');
    // What ioredis does when a connect attempt fails in its connector: status "end", no retry.
    client.disconnect();
    await vi.waitFor(() => expect(client.status).toBe('end'));
    await vi.waitFor(() => expect(client.status).toBe('ready'), { timeout: 3000, interval: 20 });
    expect(await client.ping()).toBe('PONG');

    const inspect = server.client();
    const quits = async () => Number(/cmdstat_quit:calls=(\d+)/.exec(await inspect.info('commandstats'))?.[1] ?? 0);
    const before = await quits();
    await closeRedisClient(client);
    expect(await quits()).toBe(before + 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(client.status).toBe('end');
  });
});
