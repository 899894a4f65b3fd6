import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { startApp, type AppServer } from '../support/app-server';
import { startRedisCluster, startRedisSentinel, type RedisClusterServers, type RedisSentinelServers } from '../support/redis-ha';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { histogram, send, sleep, startLoad, type PlannedRequest } from './support';
import { admitsIn } from '../support/redis';

/**
 * The production server (`npm start`) configured from the environment only,
 * as deployed: two servers on a real Redis Cluster (`REDIS_CLUSTER_NODES`) and
 * two on a real Sentinel (`REDIS_SENTINELS`, `REDIS_SENTINEL_NAME`). Limits
 * are one limit across the two; the sentinel's primary is killed (SIGKILL)
 * under load: no 5xx, `critical` logged, then recovery on the promoted
 * replica on both servers, on their own (real clocks, real probes).
 */

const LIMIT = 5;
let upstream: MockOpenAI;
let cluster: RedisClusterServers;
let sentinel: RedisSentinelServers;
let onCluster: AppServer[];
let onSentinel: AppServer[];

const env = (redis: Record<string, string>, prefix: string) => ({
  OPENAI_API_KEY: 'sk-test-redis-ha-0123456789',
  OPENAI_BASE_URL: upstream.baseUrl,
  JWT_SECRET: TEST_JWT_SECRET,
  RATE_LIMIT_PREFIX: prefix,
  RATE_LIMIT_TOKEN: `${LIMIT}/60`,
  RATE_LIMIT_API: '999999/60',
  RATE_LIMIT_GLOBAL: '999999/60',
  REDIS_TIMEOUT_MS: '500',
  ...redis,
});

beforeAll(async () => {
  [upstream, cluster, sentinel] = await Promise.all([startMockOpenAI(), startRedisCluster(), startRedisSentinel()]);
  onCluster = await Promise.all([0, 1].map(() => startApp(env(cluster.env, 'ha-cluster:'))));
  onSentinel = await Promise.all([0, 1].map(() => startApp(env(sentinel.env, 'ha-sentinel:'))));
});

afterAll(async () => {
  await Promise.all([...(onCluster ?? []), ...(onSentinel ?? [])].map((app) => app.stop()));
  await Promise.all([upstream?.close(), cluster?.close(), sentinel?.close()]);
});

const tokens = new Map<string, Promise<string>>();
async function planned(user: string, tag = user): Promise<PlannedRequest> {
  if (!tokens.has(user)) tokens.set(user, signJwt({}, { subject: user, expiresIn: '30m' }));
  return { tag, user, headers: { authorization: `Bearer ${await tokens.get(user)!}`, 'content-type': 'application/json' }, body: '{}' };
}

/** `count` token requests for `user`, one after another, alternating between `apps`. */
async function alternate(apps: readonly AppServer[], user: string, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await send(apps[i % 2].url, await planned(user))).status ?? 0);
  return out;
}

const health = async (app: AppServer) => (await fetch(`${app.url}/api/health`)).json();
const limitThenRefused = (n: number) => [...Array(LIMIT).fill(200), ...Array(n - LIMIT).fill(429)];

it('two servers on a Redis Cluster: one limit across both, the window on the cluster', async () => {
  for (const app of onCluster) expect(await health(app)).toEqual({ status: 'ok', limiter: 'redis' });
  expect(await alternate(onCluster, 'cluster-user', LIMIT + 3)).toEqual(limitThenRefused(LIMIT + 3));
  const key = 'ha-cluster:token#2:jwt:cluster-user';
  expect(await admitsIn(cluster.client(await cluster.nodeFor(await cluster.keyslot(key))), key)).toBe(LIMIT);
  for (const app of onCluster) expect(app.logs().filter((l) => l.event === 'rate_limit_store_degraded')).toEqual([]);
});

it('two servers on a Sentinel: the primary killed under load, no 5xx, critical logged, recovery on the promoted replica', { timeout: 60_000 }, async () => {
  const [a, b] = onSentinel;
  for (const app of onSentinel) expect(await health(app)).toEqual({ status: 'ok', limiter: 'redis' });
  let honest = 0;
  // Fresh users (one request each) on both servers, all the way through the failover.
  const load = startLoad((w, i) => onSentinel[(w + i) % 2].url, 4, () => planned(`honest-${honest++}`, 'honest'));
  await sleep(500);
  await sentinel.primary.stop('SIGKILL');
  const killedAt = performance.now();
  await vi.waitFor(
    async () => {
      expect(await sentinel.primaryPort()).toBe(sentinel.replica.port);
      for (const app of onSentinel) expect(await health(app)).toEqual({ status: 'ok', limiter: 'redis' });
    },
    { timeout: 20_000, interval: 250 },
  );
  const recoveredAt = performance.now();
  await sleep(500);
  const exchanges = await load.stop();
  const statuses = histogram(exchanges.map((e) => e.status ?? e.error ?? 'none'));
  expect(statuses).toEqual({ 200: exchanges.length });
  // The load did run through the outage (answered from memory meanwhile).
  expect(exchanges.filter((e) => e.sentAt > killedAt && e.doneAt < recoveredAt).length).toBeGreaterThan(10);
  for (const app of onSentinel) {
    const lines = app.logs();
    expect(lines.filter((l) => l.event === 'rate_limit_store_degraded').map((l) => l.level)).toEqual(['critical']);
    expect(lines.filter((l) => l.event === 'rate_limit_store_recovered')).toHaveLength(1);
    expect(app.stdout.join('\n') + app.stderr()).not.toMatch(new RegExp(`redis://|ECONNREFUSED|:${sentinel.primary.port}\\b|:${sentinel.sentinel.port}\\b`));
  }
  // One limit across both again, kept on the new primary.
  expect(await alternate([a, b], 'after-failover', LIMIT + 3)).toEqual(limitThenRefused(LIMIT + 3));
  expect(await admitsIn(sentinel.client(sentinel.replica), 'ha-sentinel:token#2:jwt:after-failover')).toBe(LIMIT);
});
