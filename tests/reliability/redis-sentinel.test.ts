import { expect, it, vi } from 'vitest';
import { byStatus, tokenRequest, type Answer } from '../route/helpers';
import { startRedisSentinel } from '../support/redis-ha';
import { signJwt } from '../support/tokens';
import { admitsIn } from '../support/redis';
import { redisHaHarness } from '../support/redis-ha-harness';

/**
 * The limiter through a real Sentinel (a primary, its replica and one
 * sentinel with quorum 1, tests/support/redis-ha.ts), shared by two app
 * instances in process with `REDIS_SENTINELS` and `REDIS_SENTINEL_NAME`.
 *
 * - Exact across instances: 40 simultaneous requests for one user, split
 *   over both instances, admit exactly the limit.
 * - Failover: the primary is killed (SIGKILL) while requests keep coming.
 *   No 5xx; each instance limits in memory meanwhile and logs `critical`
 *   rate_limit_store_degraded; once the sentinel has promoted the replica,
 *   both log rate_limit_store_recovered and share limits on the new primary,
 *   which also kept (by replication) the admits made before the kill.
 */

const LIMIT = 10;
const PREFIX = `sentinel-${Date.now()}:`;
const h = redisHaHarness(() => startRedisSentinel(), LIMIT, PREFIX);
const { tokenKey, burst, events } = h;

it('is exact across two instances: 40 simultaneous requests, limit 10, exactly 10 admitted, on the primary the sentinel names', async () => {
  expect(byStatus(await burst('exact', 40))).toEqual({ 200: LIMIT, 429: 40 - LIMIT });
  expect(await h.servers.primaryPort()).toBe(h.servers.primary.port);
  expect(await admitsIn(h.servers.client(h.servers.primary), tokenKey('exact'))).toBe(LIMIT);
  expect(h.two.events('rate_limit_store_degraded')).toEqual([]);
});

it('a killed primary: no 5xx, limits held, critical logged, then recovery on the promoted replica', { timeout: 60_000 }, async () => {
  expect(byStatus(await burst('victim', 4))).toEqual({ 200: 4 });
  // The admits reached the replica before the kill (loopback replication is immediate).
  await vi.waitFor(async () => expect(await admitsIn(h.servers.client(h.servers.replica), tokenKey('victim'))).toBe(4));

  await h.servers.primary.stop('SIGKILL');
  // At once, before any failover can happen (down-after 500 ms): each instance limits in memory,
  // exactly, on its own (its 4 admits on Redis count for neither fallback): never open.
  const outage = await burst('victim', 2 * (LIMIT + 1));
  for (const i of [0, 1]) expect(byStatus(outage.filter((_, n) => n % 2 === i))).toEqual({ 200: LIMIT, 429: 1 });
  for (const i of [0, 1]) {
    expect(events(i, 'rate_limit_store_degraded')).toEqual([expect.objectContaining({ level: 'critical', metadata: expect.objectContaining({ store: 'redis', fallback: 'memory' }) })]);
  }
  const during: Answer[] = [];
  let round = 0;
  // Requests keep coming, and each round moves the clocks past the probe interval, until the
  // sentinel has promoted the replica and both instances found it.
  await vi.waitFor(
    async () => {
      during.push(...(await burst('victim', 4)));
      await Promise.all([0, 1].map(async (i) => h.two.send(i, tokenRequest({ token: await signJwt({}, { subject: `probe-${round++}` }) }))));
      for (const rt of h.two.all) rt.advance(1100);
      expect(await h.servers.primaryPort()).toBe(h.servers.replica.port);
      for (const i of [0, 1]) expect(events(i, 'rate_limit_store_recovered').length).toBeGreaterThanOrEqual(1);
    },
    { timeout: 20_000, interval: 200 },
  );
  // No 5xx, and the limited user stayed limited throughout the failover and the recovery.
  expect(byStatus(during)).toEqual({ 429: during.length });

  // Shared again, on the new primary: a fresh user gets the limit once across both instances.
  expect(byStatus(await burst('after', 30))).toEqual({ 200: LIMIT, 429: 30 - LIMIT });
  expect(await admitsIn(h.servers.client(h.servers.replica), tokenKey('after'))).toBe(LIMIT);
  // The victim stays limited: each instance still counts the admits it granted during the
  // outage, and the new primary has the 4 from before the kill.
  expect(byStatus(await burst('victim', 4))).toEqual({ 429: 4 });
  expect(await admitsIn(h.servers.client(h.servers.replica), tokenKey('victim'))).toBeGreaterThanOrEqual(4);
  for (const rt of h.two.all) expect(rt.lines.join('\n')).not.toMatch(new RegExp(`127\\.0\\.0\\.1|:${h.servers.primary.port}\\b|ECONNREFUSED`));
});
