import { expect, it, vi } from 'vitest';
import { callKeys, RedisCallRegistry } from '@/lib/calls/registry-redis';
import type { RedisConnection } from '@/lib/config';
import { RedisRateLimitStore } from '@/lib/limits/redis';
import { byStatus, type Answer } from '../route/helpers';
import type { RedisServer } from '../support/redis';
import { startRedisCluster } from '../support/redis-ha';
import { admitsIn } from '../support/redis';
import { redisHaHarness } from '../support/redis-ha-harness';

/**
 * The limiter on a real Redis Cluster (three primaries made by
 * `redis-cli --cluster create`, tests/support/redis-ha.ts), shared by two
 * app instances in process (tests/support/instances.ts), as two servers
 * behind a load balancer with `REDIS_CLUSTER_NODES`.
 *
 * - Every script keeps to one slot: each store and call-registry operation
 *   runs on the cluster, which refuses a script whose keys span slots
 *   (CROSSSLOT) or that touches an undeclared key on another node.
 * - Exact across instances: concurrent requests for users whose keys live on
 *   different primaries are admitted exactly up to the limit, in total.
 * - A primary killed (SIGKILL; no replica, so its slots have no owner and the
 *   cluster goes `fail`): no 5xx, each instance keeps limiting in memory and
 *   logs `critical` rate_limit_store_degraded; after the restart, recovery is
 *   logged and limits are shared on the cluster again.
 */

const LIMIT = 5;
const PREFIX = `cluster-${Date.now()}:`;
const h = redisHaHarness(() => startRedisCluster(), LIMIT, PREFIX);
const { tokenKey, burst, events } = h;

/** Users whose token keys sit on `want` distinct primaries, one user per primary. */
async function usersOnDistinctNodes(want: number, tag: string): Promise<string[]> {
  const byPort = new Map<number, string>();
  for (let i = 0; byPort.size < want; i++) {
    const user = `${tag}-${i}`;
    const node = await h.servers.nodeFor(await h.servers.keyslot(tokenKey(user)));
    if (!byPort.has(node.port)) byPort.set(node.port, user);
  }
  return [...byPort.values()];
}

it('every script keeps to one slot: each store and call-registry operation succeeds on the cluster, where a cross-slot script is refused', async () => {
  const connection: RedisConnection = { mode: 'cluster', nodes: h.servers.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), username: undefined, password: undefined, tls: false };
  const store = new RedisRateLimitStore({ connection, prefix: `${PREFIX}slots:`, timeoutMs: 2000 });
  const registry = new RedisCallRegistry({ connection, prefix: `${PREFIX}slots:`, timeoutMs: 2000 });
  try {
    const policy = { name: 'p', limit: 3, windowMs: 60_000 };
    // Keys on every primary: a script that reached past its one key would fail on some of them.
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) {
      expect((await store.hit(key, policy)).allowed).toBe(true);
      await (await store.reserve(key, policy)).release();
      expect((await store.peek(key, policy)).remaining).toBe(2);
      const draw = await store.draw(key, { ...policy, name: 'budget', limit: 100 }, 10, 1);
      expect(draw.granted).toBe(10);
      await draw.refund(4);
      expect((await store.distinct(key, 'm', { name: 'd', windowMs: 60_000, maxMembers: 5 })).members).toEqual(['m']);
      expect((await store.trend(key, { name: 't', bucketMs: 60_000, alpha: 0.5 })).current).toBe(1);
    }
    const now = Date.now();
    for (const id of ['call_1', 'call_2', 'call_3']) {
      const keys = callKeys(`${PREFIX}slots:`, id);
      expect(await h.servers.keyslot(keys.record)).toBe(await h.servers.keyslot(keys.index));
      await registry.put({ id, owner: 'jwt:u', kind: 'realtime', upstreamId: `rtc_${id}`, startedAt: now, endsAt: now + 1000, limitedBy: 'max_duration', state: 'active' });
      expect((await registry.get(id))?.state).toBe('active');
    }
    expect((await registry.overdue(now + 5000, 10)).map((r) => r.id).sort()).toEqual(['call_1', 'call_2', 'call_3']);
    expect((await registry.finish('call_1', 'client', now))?.id).toBe('call_1');
    expect(await registry.finish('call_1', 'client', now)).toBeUndefined();
    // The control: this cluster does refuse a script over two slots.
    const [x, y] = ['a', 'b'].map((k) => `${PREFIX}slots:${k}`);
    expect(await h.servers.keyslot(x)).not.toBe(await h.servers.keyslot(y));
    const node = h.servers.client(await h.servers.nodeFor(await h.servers.keyslot(x)));
    await expect(node.eval("return redis.call('GET', KEYS[1])", 2, x, y)).rejects.toThrow(/CROSSSLOT/);
    // A graceful close says QUIT to every primary it talked to (server/main.ts closes the store on SIGTERM).
    const before = await Promise.all(h.servers.nodes.map(quits));
    await store.close();
    expect(await Promise.all(h.servers.nodes.map(quits))).toEqual(before.map((n) => n + 1));
  } finally {
    await store.close();
    await registry.close();
  }
});

/** QUIT commands a node has served (INFO commandstats). */
async function quits(node: RedisServer): Promise<number> {
  const stats = await h.servers.client(node).info('commandstats');
  return Number(/cmdstat_quit:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

it('is exact across two instances: 20 simultaneous requests per user, users on three primaries, exactly 5 each', async () => {
  const users = await usersOnDistinctNodes(3, 'exact');
  const answers = await Promise.all(users.map((user) => burst(user, 20)));
  for (const list of answers) expect(byStatus(list)).toEqual({ 200: LIMIT, 429: 20 - LIMIT });
  // Each user's window is one key on the primary that owns its slot.
  for (const user of users) {
    const node = await h.servers.nodeFor(await h.servers.keyslot(tokenKey(user)));
    expect(await admitsIn(h.servers.client(node), tokenKey(user))).toBe(LIMIT);
  }
  expect(h.two.events('rate_limit_store_degraded')).toEqual([]);
});

it('a killed primary: no 5xx, limits held in memory, critical logged; after its restart, recovery and shared limits again', { timeout: 60_000 }, async () => {
  const [victim] = await usersOnDistinctNodes(1, 'victim');
  const node = await h.servers.nodeFor(await h.servers.keyslot(tokenKey(victim)));
  expect(byStatus(await burst(victim, 2))).toEqual({ 200: 2 });

  await node.stop('SIGKILL');
  // At once: each instance limits in memory, exactly, on its own (the 2 admits on the dead
  // node count for neither fallback): never open.
  const outage = await burst(victim, 2 * (LIMIT + 1));
  for (const i of [0, 1]) expect(byStatus(outage.filter((_, n) => n % 2 === i))).toEqual({ 200: LIMIT, 429: 1 });
  for (const rt of h.two.all) {
    const degraded = rt.entries().filter((e) => e.event === 'rate_limit_store_degraded');
    expect(degraded.length).toBeGreaterThanOrEqual(1);
    expect(degraded[0]).toMatchObject({ level: 'critical', metadata: { store: 'redis', fallback: 'memory' } });
  }
  // While the node stays down, and once the cluster calls itself failed (node timeout 1 s),
  // requests keep coming; each round moves the instances' clocks past their probe interval.
  const during: Answer[] = [];
  for (let round = 0; round < 6; round++) {
    during.push(...(await burst(victim, 4)));
    for (const rt of h.two.all) rt.advance(1100);
    await new Promise((r) => setTimeout(r, 250));
  }
  // No 5xx, and the limited user stays limited.
  expect(byStatus(during)).toEqual({ 429: during.length });

  await node.start();
  await h.servers.waitForState('ok');
  // Done when a request touching the victim's slot (a user with a hash tag for it) runs on each
  // instance without a new failure: both reach the restarted node again.
  await vi.waitFor(
    async () => {
      for (const rt of h.two.all) rt.advance(1100);
      await h.expectSlotOnRedis(victim);
    },
    { timeout: 15_000, interval: 200 },
  );
  for (const i of [0, 1]) expect(events(i, 'rate_limit_store_recovered').length).toBeGreaterThanOrEqual(1);
  // The victim, limited during the outage, stays limited; a new user is limited once across both.
  expect(byStatus(await burst(victim, 2))).toEqual({ 429: 2 });
  const [fresh] = await usersOnDistinctNodes(1, 'after');
  expect(byStatus(await burst(fresh, 12))).toEqual({ 200: LIMIT, 429: 12 - LIMIT });
  expect(await admitsIn(h.servers.client(await h.servers.nodeFor(await h.servers.keyslot(tokenKey(fresh)))), tokenKey(fresh))).toBe(LIMIT);
  // Nothing about the servers in the logs.
  for (const rt of h.two.all) expect(rt.lines.join('\n')).not.toMatch(new RegExp(`127\\.0\\.0\\.1|:${node.port}\\b|ECONNREFUSED`));
});
