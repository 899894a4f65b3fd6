import { expect, it, vi } from 'vitest';
import { byStatus, type Answer } from '../route/helpers';
import { startRedisCluster } from '../support/redis-ha';
import { admitsIn } from '../support/redis';
import { redisHaHarness } from '../support/redis-ha-harness';

/**
 * A Redis Cluster failover: six real nodes (three primaries, one replica
 * each, tests/support/redis-ha.ts) shared by two app instances in process.
 * The primary holding a user's window is killed (SIGKILL) while requests keep
 * coming; its replica takes over after the node timeout (1 s). No 5xx; each
 * instance limits in memory meanwhile and logs `critical`; both find the
 * promoted replica (the client's periodic slot refresh, which this fails
 * without) and log recovery; the
 * window made before the kill survived on the replica, so the user stays
 * limited, and limits are shared again.
 */

const LIMIT = 5;
const PREFIX = `cluster-failover-${Date.now()}:`;
const h = redisHaHarness(() => startRedisCluster({ replicas: 1 }), LIMIT, PREFIX);
const { tokenKey, burst, events } = h;

it('a primary killed: no 5xx, limits held, critical logged; its replica takes over and both instances find it', { timeout: 60_000 }, async () => {
  const slot = await h.servers.keyslot(tokenKey('victim'));
  const primary = await h.servers.nodeFor(slot);
  const [replica] = await h.servers.replicasFor(slot);
  expect(byStatus(await burst('victim', 2))).toEqual({ 200: 2 });
  // A replica answers reads only on a READONLY connection (else MOVED to its primary).
  await h.servers.client(replica).call('READONLY');
  await vi.waitFor(async () => expect(await admitsIn(h.servers.client(replica), tokenKey('victim'))).toBe(2));

  await primary.stop('SIGKILL');
  // At once: each instance limits in memory, exactly, on its own: never open.
  const outage = await burst('victim', 2 * (LIMIT + 1));
  for (const i of [0, 1]) expect(byStatus(outage.filter((_, n) => n % 2 === i))).toEqual({ 200: LIMIT, 429: 1 });
  for (const i of [0, 1]) expect(events(i, 'rate_limit_store_degraded')[0]).toMatchObject({ level: 'critical', metadata: { store: 'redis', fallback: 'memory' } });

  const during: Answer[] = [];
  await vi.waitFor(
    async () => {
      during.push(...(await burst('victim', 4)));
      for (const rt of h.two.all) rt.advance(1100);
      expect(await h.servers.nodeFor(slot)).toBe(replica);
      // Done when a request touching the slot runs clean on each instance: both found the promoted replica.
      await h.expectSlotOnRedis('victim');
    },
    { timeout: 20_000, interval: 200 },
  );
  for (const i of [0, 1]) expect(events(i, 'rate_limit_store_recovered').length).toBeGreaterThanOrEqual(1);
  // No 5xx, and the limited user stayed limited throughout.
  expect(byStatus(during)).toEqual({ 429: during.length });
  // The replica kept the 2 admits from before the kill; with the outage's, the user stays limited.
  expect(await admitsIn(h.servers.client(replica), tokenKey('victim'))).toBeGreaterThanOrEqual(2);
  expect(byStatus(await burst('victim', 4))).toEqual({ 429: 4 });
  // Shared again: a fresh user of the same slot gets the limit once across both instances.
  const fresh = `{${tokenKey('victim')}}`;
  expect(await h.servers.keyslot(tokenKey(fresh))).toBe(slot);
  expect(byStatus(await burst(fresh, 12))).toEqual({ 200: LIMIT, 429: 12 - LIMIT });
  expect(await admitsIn(h.servers.client(replica), tokenKey(fresh))).toBe(LIMIT);
});
