import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { byStatus, tokenRequest, type Answer } from '../route/helpers';
import { twoInstances, type Instances } from '../support/instances';
import { startRedisSentinel, type RedisSentinelServers } from '../support/redis-ha';
import { signJwt } from '../support/tokens';
import { startMockOpenAI, type MockOpenAI } from '../support/upstream';
import { admitsIn } from '../support/redis';

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
let servers: RedisSentinelServers;
let upstream: MockOpenAI;
let two: Instances;

beforeAll(async () => {
  [servers, upstream] = await Promise.all([startRedisSentinel(), startMockOpenAI()]);
  two = twoInstances(servers.env, upstream.baseUrl, {
    RATE_LIMIT_PREFIX: PREFIX,
    RATE_LIMIT_TOKEN: `${LIMIT}/60`,
    RATE_LIMIT_API: '999999/60',
    RATE_LIMIT_GLOBAL: '999999/60',
  });
});

afterAll(async () => {
  await two?.close();
  await upstream?.close();
  await servers?.close();
});

const tokenKey = (user: string) => `${PREFIX}token#2:jwt:${user}`;

/** `count` requests for `user` at once, alternating between the instances, each from its own IP. */
async function burst(user: string, count: number): Promise<Answer[]> {
  const token = await signJwt({}, { subject: user });
  const requests = await Promise.all(Array.from({ length: count }, (_, i) => tokenRequest({ token, forwardedFor: `198.51.100.${i + 1}` })));
  return Promise.all(requests.map((req, i) => two.send(i % 2, req)));
}

const events = (i: number, event: string) => two.all[i].entries().filter((e) => e.event === event);

it('is exact across two instances: 40 simultaneous requests, limit 10, exactly 10 admitted, on the primary the sentinel names', async () => {
  expect(byStatus(await burst('exact', 40))).toEqual({ 200: LIMIT, 429: 40 - LIMIT });
  expect(await servers.primaryPort()).toBe(servers.primary.port);
  expect(await admitsIn(servers.client(servers.primary), tokenKey('exact'))).toBe(LIMIT);
  expect(two.events('rate_limit_store_degraded')).toEqual([]);
});

it('a killed primary: no 5xx, limits held, critical logged, then recovery on the promoted replica', { timeout: 60_000 }, async () => {
  expect(byStatus(await burst('victim', 4))).toEqual({ 200: 4 });
  // The admits reached the replica before the kill (loopback replication is immediate).
  await vi.waitFor(async () => expect(await admitsIn(servers.client(servers.replica), tokenKey('victim'))).toBe(4));

  await servers.primary.stop('SIGKILL');
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
      await Promise.all([0, 1].map(async (i) => two.send(i, tokenRequest({ token: await signJwt({}, { subject: `probe-${round++}` }) }))));
      for (const rt of two.all) rt.advance(1100);
      expect(await servers.primaryPort()).toBe(servers.replica.port);
      for (const i of [0, 1]) expect(events(i, 'rate_limit_store_recovered').length).toBeGreaterThanOrEqual(1);
    },
    { timeout: 20_000, interval: 200 },
  );
  // No 5xx, and the limited user stayed limited throughout the failover and the recovery.
  expect(byStatus(during)).toEqual({ 429: during.length });

  // Shared again, on the new primary: a fresh user gets the limit once across both instances.
  expect(byStatus(await burst('after', 30))).toEqual({ 200: LIMIT, 429: 30 - LIMIT });
  expect(await admitsIn(servers.client(servers.replica), tokenKey('after'))).toBe(LIMIT);
  // The victim stays limited: each instance still counts the admits it granted during the
  // outage, and the new primary has the 4 from before the kill.
  expect(byStatus(await burst('victim', 4))).toEqual({ 429: 4 });
  expect(await admitsIn(servers.client(servers.replica), tokenKey('victim'))).toBeGreaterThanOrEqual(4);
  for (const rt of two.all) expect(rt.lines.join('\n')).not.toMatch(new RegExp(`127\\.0\\.0\\.1|:${servers.primary.port}\\b|ECONNREFUSED`));
});
