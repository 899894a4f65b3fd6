import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RatePolicy } from '@/lib/limits/store';
import type { RateLimitResult, RateLimitStore } from '@/lib/limits/store';
import { storeHarnesses } from './harness';

/**
 * One contract, two stores: every case below runs unchanged against
 * the in-memory store and the Redis store, so their semantics cannot drift.
 *
 * Redis keeps time with its own clock (`TIME`), which no test can fake, so
 * both stores run on the real clock here: windows are long where the case
 * does not need time to pass, and 2 s where it does (wide enough that a
 * loaded CI box does not cross a window boundary mid-case). Every case uses
 * fresh keys. Fake-clock cases for the memory store live in its unit tests.
 */

const PREFIX = `contract-${process.pid}:`;
const stores = storeHarnesses(PREFIX);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// The tests that wait for a window to pass run concurrently (it.concurrent, each on keys of its
// own), so their waits overlap instead of adding up.
const policy = (limit: number, windowMs: number, name = 'contract'): RatePolicy => ({ name, limit, windowMs });
const key = () => `user-${randomUUID()}`;
// Redis stamps in microseconds and rounds reset times up to the next ms; both
// clocks are this machine's, so results agree with Date.now() to a few ms.
const SLACK_MS = 25;

describe.each([stores.memory, stores.redis])('rate-limit store contract: $name', (harness) => {
  let store: RateLimitStore;

  beforeAll(async () => {
    await harness.setUp();
    store = await harness.connect();
  });
  afterAll(async () => {
    await harness.tearDown();
  });

  it('admits N requests, then refuses, reporting limit, remaining and reset like the memory store', async () => {
    const p = policy(5, 60_000);
    const k = key();
    const before = Date.now();
    const admits: RateLimitResult[] = [];
    for (let i = 0; i < 5; i++) admits.push(await store.hit(k, p));
    const refused = await store.hit(k, p);
    const after = Date.now();

    expect(admits.map((r) => [r.allowed, r.remaining, r.retryAfterMs, r.limit])).toEqual([
      [true, 4, 0, 5],
      [true, 3, 0, 5],
      [true, 2, 0, 5],
      [true, 1, 0, 5],
      [true, 0, 0, 5],
    ]);
    for (const r of [...admits, refused]) expect(r.policy).toEqual(p);
    // resetAt is when the oldest admit leaves the window: the same for all five.
    const resetAt = admits[0].resetAt;
    expect(resetAt).toBeGreaterThanOrEqual(before + p.windowMs);
    expect(resetAt).toBeLessThanOrEqual(after + p.windowMs + SLACK_MS);
    for (const r of admits) expect(Math.abs(r.resetAt - resetAt)).toBeLessThanOrEqual(1);

    expect(refused).toMatchObject({ allowed: false, remaining: 0, limit: 5 });
    expect(refused.retryAfterMs).toBeGreaterThan(p.windowMs - (after - before) - SLACK_MS);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(p.windowMs);
    expect(Math.abs(refused.resetAt - resetAt)).toBeLessThanOrEqual(2);
  });

  it.concurrent('a refused request consumes nothing', async () => {
    const p = policy(2, 2000);
    const k = key();
    expect((await store.hit(k, p)).allowed).toBe(true);
    expect((await store.hit(k, p)).allowed).toBe(true);
    let last: RateLimitResult | undefined;
    for (let i = 0; i < 10; i++) {
      last = await store.hit(k, p);
      expect(last.allowed).toBe(false);
    }
    await sleep(last!.retryAfterMs + 20);
    // Had the ten refusals been recorded, the window would still be full.
    const next = [await store.hit(k, p), await store.hit(k, p), await store.hit(k, p)];
    expect(next.map((r) => [r.allowed, r.remaining])).toEqual([
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
  });

  it.concurrent('the window slides: each admit frees its slot exactly one window after it was made', async () => {
    const p = policy(2, 2000);
    const k = key();
    const first = await store.hit(k, p);
    await sleep(800);
    const second = await store.hit(k, p);
    const blocked = await store.hit(k, p);
    expect([first.allowed, second.allowed, blocked.allowed]).toEqual([true, true, false]);
    // The wait is until the first admit leaves, not a whole fresh window.
    expect(blocked.retryAfterMs).toBeLessThanOrEqual(p.windowMs - 800 + SLACK_MS);
    expect(Math.abs(blocked.resetAt - first.resetAt)).toBeLessThanOrEqual(2);

    await sleep(blocked.retryAfterMs + 20);
    const third = await store.hit(k, p);
    const fourth = await store.hit(k, p);
    // One slot came free (the first admit left); the second admit still counts.
    expect(third).toMatchObject({ allowed: true, remaining: 0 });
    expect(fourth).toMatchObject({ allowed: false, remaining: 0 });
    // Now the second admit is the oldest: both report when it leaves.
    expect(Math.abs(fourth.resetAt - third.resetAt)).toBeLessThanOrEqual(2);
    expect(third.resetAt - first.resetAt).toBeGreaterThanOrEqual(800);
  });

  it.concurrent('peek reports the state and records nothing', async () => {
    const p = policy(3, 60_000);
    const k = key();
    const before = Date.now();
    const fresh = await store.peek(k, p);
    expect(fresh).toMatchObject({ allowed: true, remaining: 3, limit: 3, retryAfterMs: 0 });
    expect(fresh.resetAt).toBeGreaterThanOrEqual(before + p.windowMs);
    expect(fresh.resetAt).toBeLessThanOrEqual(Date.now() + p.windowMs + SLACK_MS);
    for (let i = 0; i < 10; i++) await store.peek(k, p);

    const admits = [await store.hit(k, p), await store.hit(k, p), await store.hit(k, p)];
    expect(admits.map((r) => r.allowed)).toEqual([true, true, true]);
    expect((await store.peek(k, p)).remaining).toBe(0);
    const full = await store.peek(k, p);
    expect(full).toMatchObject({ allowed: false, remaining: 0, limit: 3 });
    expect(full.retryAfterMs).toBeGreaterThan(0);
    expect(full.retryAfterMs).toBeLessThanOrEqual(p.windowMs);
    expect(Math.abs(full.resetAt - admits[0].resetAt)).toBeLessThanOrEqual(2);
  });

  it.concurrent('peek counts only admits still inside the window', async () => {
    const p = policy(2, 2000);
    const k = key();
    await store.hit(k, p);
    await store.hit(k, p);
    const full = await store.peek(k, p);
    expect(full.allowed).toBe(false);
    await sleep(full.retryAfterMs + 20);
    expect(await store.peek(k, p)).toMatchObject({ allowed: true, remaining: 2, retryAfterMs: 0 });
  });

  it('keys and policies do not share quota', async () => {
    const a = policy(1, 60_000, 'alpha');
    const b = policy(1, 60_000, 'beta');
    const k = key();
    expect((await store.hit(k, a)).allowed).toBe(true);
    expect((await store.hit(k, b)).allowed).toBe(true);
    expect((await store.hit(`${k}-other`, a)).allowed).toBe(true);
    expect((await store.hit(k, a)).allowed).toBe(false);
    expect((await store.hit(k, b)).allowed).toBe(false);
  });

  it.each([
    ['with a colon', 'a:b'],
    ['a glob pattern', '*'],
    ['spaces', 'a b c'],
    ['non-ASCII text', 'üser-名前'],
    ['control characters', 'a\u0000b\r\nc'],
    ['a long id', 'x'.repeat(2048)],
    ['an IPv6 /64', '2001:db8:1:2::/64'],
  ])('a key %s gets its own window', async (_label, raw) => {
    const p = policy(1, 60_000, `hostile-${randomUUID()}`);
    expect((await store.hit(raw, p)).allowed).toBe(true);
    expect((await store.hit(`${raw}.`, p)).allowed).toBe(true);
    expect((await store.hit(raw, p)).allowed).toBe(false);
  });

  it('200 concurrent checks for one key across 4 client connections admit exactly N', async () => {
    const p = policy(37, 60_000);
    const k = key();
    const clients = await Promise.all([1, 2, 3, 4].map(() => harness.connect()));
    await Promise.all(clients.map((c) => c.peek(`${k}-warm`, p)));
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => clients[i % 4].hit(k, p)));
    const admitted = results.filter((r) => r.allowed);
    expect(admitted).toHaveLength(37);
    // Every admit saw a different count: the check and the record were one step.
    expect(admitted.map((r) => r.remaining).sort((x, y) => x - y)).toEqual(Array.from({ length: 37 }, (_, i) => i));
    for (const r of results.filter((r) => !r.allowed)) expect(r.retryAfterMs).toBeGreaterThan(0);
    expect((await clients[3].peek(k, p)).remaining).toBe(0);
  });

  it('reserve: 60 concurrent reservations across 4 connections admit exactly N; released units are free again, once', async () => {
    const p = policy(20, 60_000);
    const k = key();
    const clients = await Promise.all([1, 2, 3, 4].map(() => harness.connect()));
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => clients[i % 4].reserve(k, p)));
    const held = results.filter((r) => r.allowed);
    expect(held).toHaveLength(20);
    for (const r of results.filter((r) => !r.allowed)) expect(r.retryAfterMs).toBeGreaterThan(0);
    // Giving back 5 (twice each: a second release is a no-op) frees exactly 5.
    await Promise.all(held.slice(0, 5).flatMap((r) => [r.release(), r.release()]));
    // A refused reservation has nothing to give back.
    await Promise.all(results.filter((r) => !r.allowed).map((r) => r.release()));
    expect((await store.peek(k, p)).remaining).toBe(5);
    const again = await Promise.all(Array.from({ length: 30 }, (_, i) => clients[i % 4].reserve(k, p)));
    expect(again.filter((r) => r.allowed)).toHaveLength(5);
  });

  it('a released reservation removes its own admit, not an older one', async () => {
    const p = policy(3, 2000);
    const k = key();
    const first = await store.reserve(k, p);
    await sleep(20);
    const second = await store.reserve(k, p);
    await second.release();
    const look = await store.peek(k, p);
    expect(look.remaining).toBe(2);
    // The window still ends when the first admit leaves it.
    expect(Math.abs(look.resetAt - first.resetAt)).toBeLessThanOrEqual(2);
  });
});

describe('after the contract run on Redis', () => {
  it('every key under the prefix carries a TTL no longer than its window plus the slack', async () => {
    const client = (await stores.server()).client();
    const keys = await client.keys(`${PREFIX}*`);
    expect(keys.length).toBeGreaterThan(10);
    const ttls = await Promise.all(keys.map((k) => client.pttl(k)));
    // -1 would be a key without expiry; the longest window above is 60 s, and an
    // admit log's TTL runs an eighth of a window past it (lib/limits/lua.ts, "TTL").
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000 * 1.125 + 1);
    }
    expect(await client.keys('*')).toEqual(expect.arrayContaining(keys));
    expect((await client.keys('*')).every((k) => k.startsWith(PREFIX))).toBe(true);
  });
});
