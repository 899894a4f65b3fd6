import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DistinctPolicy, ObservationStore, TrendPolicy } from '@/lib/limits/observations';
import { DISTINCT_SCRIPT, TREND_SCRIPT } from '@/lib/limits/lua';
import { storeHarnesses } from './harness';

/**
 * One contract for the observation operations (lib/limits/observations.ts)
 * behind the anomaly detectors: every case runs unchanged against the memory
 * store, the Redis store and the resilient store over Redis, so the three
 * cannot drift. Both clocks are this machine's (Redis `TIME`), so cases that
 * need time to pass sleep, with windows wide enough for a loaded machine.
 */

const stores = storeHarnesses(`observe-${process.pid}:`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const key = () => `user-${randomUUID()}`;
const distinct = (windowMs: number, maxMembers: number, name = 'contract_distinct'): DistinctPolicy => ({ name, windowMs, maxMembers });
const trend = (bucketMs: number, alpha = 0.5): TrendPolicy => ({ name: 'contract_trend', bucketMs, alpha });

/** Sleeps until `offsetMs` into the next bucket of `bucketMs`, so a case does not straddle a boundary by accident. */
async function alignTo(bucketMs: number, offsetMs = 50): Promise<void> {
  const now = Date.now();
  await sleep(bucketMs - (now % bucketMs) + offsetMs);
}

// Concurrent within a store: the cases mostly wait for buckets to turn, and each uses its own key.
describe.concurrent.each([stores.memory, stores.redis, stores.resilient])('observation store contract: $name', (harness) => {
  let store: ObservationStore;

  beforeAll(async () => {
    await harness.setUp();
    store = await harness.connect();
  });
  afterAll(async () => {
    await harness.tearDown();
  });

  it('distinct: members newest first, each once; seeing one again makes it the newest', async () => {
    const k = key();
    const p = distinct(60_000, 10);
    const seen: string[][] = [];
    for (const m of ['a', 'b', 'c', 'a']) {
      seen.push([...(await store.distinct(k, m, p)).members]);
      await sleep(3);
    }
    expect(seen).toEqual([['a'], ['b', 'a'], ['c', 'b', 'a'], ['a', 'c', 'b']]);
  });

  it('distinct: keeps the newest maxMembers, and members leave the window', async () => {
    const k = key();
    const p = distinct(1500, 3);
    for (const m of ['n1', 'n2', 'n3', 'n4']) {
      await store.distinct(k, m, p);
      await sleep(3);
    }
    expect((await store.distinct(k, 'n5', p)).members).toEqual(['n5', 'n4', 'n3']);
    await sleep(1600);
    expect((await store.distinct(k, 'n6', p)).members).toEqual(['n6']);
  });

  it('distinct: keys and policies are separate', async () => {
    const k = key();
    await store.distinct(k, 'x', distinct(60_000, 5, 'contract_one'));
    expect((await store.distinct(k, 'y', distinct(60_000, 5, 'contract_two'))).members).toEqual(['y']);
    expect((await store.distinct(key(), 'z', distinct(60_000, 5, 'contract_one'))).members).toEqual(['z']);
  });

  it('distinct: 40 concurrent members across 4 connections end with exactly the cap, each once', async () => {
    const k = key();
    const p = distinct(60_000, 8);
    const clients = await Promise.all([0, 1, 2, 3].map(() => harness.connect()));
    await Promise.all(Array.from({ length: 40 }, (_, i) => clients[i % 4].distinct(k, `m${i}`, p)));
    const { members } = await store.distinct(k, 'last', p);
    expect(members).toHaveLength(8);
    expect(new Set(members).size).toBe(8);
    expect(members[0]).toBe('last');
  });

  it('trend: counts in the current bucket, then folds it into the baseline with the previous count kept', async () => {
    const k = key();
    const p = trend(1500, 0.5);
    await alignTo(1500);
    const first = await store.trend(k, p);
    expect(first).toMatchObject({ current: 1, previous: 0, baseline: 0, buckets: 0 });
    expect(first.elapsed).toBeGreaterThanOrEqual(0);
    expect(first.elapsed).toBeLessThan(1);
    await store.trend(k, p);
    await store.trend(k, p);
    await alignTo(1500);
    // The baseline starts from a quiet history: 0.5 × 3 + 0.5 × 0.
    expect(await store.trend(k, p)).toMatchObject({ current: 1, previous: 3, baseline: 1.5, buckets: 1 });
    await alignTo(1500);
    // 0.5 × 1 + 0.5 × 1.5
    expect(await store.trend(k, p)).toMatchObject({ current: 1, previous: 1, baseline: 1.25, buckets: 2 });
  }, 15_000);

  it('trend: empty buckets decay the baseline and leave no previous count', async () => {
    const k = key();
    const p = trend(1000, 0.5);
    await alignTo(1000);
    for (let i = 0; i < 4; i++) await store.trend(k, p);
    await alignTo(1000);
    await sleep(1000);
    // Bucket 1 held 4 events (0.5 × 4), bucket 2 none: × (1 − 0.5).
    const after = await store.trend(k, p);
    expect(after).toMatchObject({ current: 1, previous: 0, buckets: 2 });
    expect(after.baseline).toBeCloseTo(1, 9);
  }, 15_000);

  it('trend: 50 concurrent events across 4 connections count exactly once each', async () => {
    const k = key();
    const p = trend(5000);
    await alignTo(5000);
    const clients = await Promise.all([0, 1, 2, 3].map(() => harness.connect()));
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => clients[i % 4].trend(k, p)));
    expect(results.map((r) => r.current).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  }, 15_000);
});

describe('observation scripts', () => {
  it('each touches exactly one key (cluster-safe) and has a pinned hash', () => {
    for (const s of [DISTINCT_SCRIPT, TREND_SCRIPT]) {
      expect(s.lua).toContain('KEYS[1]');
      expect(s.lua).not.toMatch(/KEYS\[[2-9]\]/);
      expect(s.sha).toMatch(/^[0-9a-f]{40}$/);
    }
  });
});
