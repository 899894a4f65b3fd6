import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Allotment, RatePolicy, RateLimitStore } from '@/lib/limits/store';
import { storeHarnesses } from './harness';

/**
 * The budget operation (`draw`/`refund`, lib/limits/store.ts) behind call
 * minutes per user per day: one contract for the memory store, the Redis
 * store (two connections standing for two instances) and the resilient store
 * over Redis. Real clocks (Redis keeps its own): windows are long unless a
 * case needs time to pass.
 */

const stores = storeHarnesses(`budget-${process.pid}:`);

const budget = (limit: number, windowMs = 86_400_000): RatePolicy => ({ name: 'call_seconds', limit, windowMs });
const key = () => `user-${randomUUID()}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const summary = (a: Allotment) => [a.allowed, a.granted, a.remaining];

describe.each([stores.memory, stores.redis, stores.resilient])('budget contract: $name', (harness) => {
  let store: RateLimitStore;
  let other: RateLimitStore;

  beforeAll(async () => {
    await harness.setUp();
    [store, other] = [await harness.connect(), await harness.connect()];
  });
  afterAll(() => harness.tearDown());

  it('grants what is asked while the budget lasts, then only what is left, then refuses below the minimum', async () => {
    const p = budget(3600);
    const k = key();
    const draws = [];
    for (let i = 0; i < 5; i++) draws.push(summary(await store.draw(k, p, 900, 10)));
    expect(draws).toEqual([
      [true, 900, 2700],
      [true, 900, 1800],
      [true, 900, 900],
      [true, 900, 0],
      [false, 0, 0],
    ]);
    const q = budget(1000);
    const j = key();
    expect(summary(await store.draw(j, q, 900, 10))).toEqual([true, 900, 100]);
    expect(summary(await store.draw(j, q, 900, 10))).toEqual([true, 100, 0]);
  });

  it('a refusal records nothing and says when the minimum is free again', async () => {
    const p = budget(100, 60_000);
    const k = key();
    expect(summary(await store.draw(k, p, 95, 10))).toEqual([true, 95, 5]);
    const after = Date.now();
    for (let i = 0; i < 5; i++) {
      const refused = await store.draw(k, p, 95, 10);
      expect(refused).toMatchObject({ allowed: false, granted: 0, reason: 'limited' });
      // The draw leaves one window after it was made.
      expect(refused.retryAfterMs).toBeGreaterThan(60_000 - (Date.now() - after) - 25);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
    }
    // Five units still left: a draw whose minimum fits gets them.
    expect(summary(await store.draw(k, p, 95, 5))).toEqual([true, 5, 0]);
  });

  it('refunds give back unused units, never more than were granted, and another instance sees them', async () => {
    const p = budget(600);
    const k = key();
    const first = await store.draw(k, p, 600, 10);
    expect(summary(first)).toEqual([true, 600, 0]);
    expect((await other.draw(k, p, 600, 10)).allowed).toBe(false);
    await first.refund(400);
    await first.refund(400); // only 200 were left to refund
    await first.refund(400);
    expect(summary(await other.draw(k, p, 900, 10))).toEqual([true, 600, 0]);
  });

  it('is exact under concurrency across two clients: 20 parallel draws of 300 from 1800 grant exactly 1800', async () => {
    const p = budget(1800);
    const k = key();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : store).draw(k, p, 300, 300)));
    expect(results.filter((r) => r.allowed)).toHaveLength(6);
    expect(results.reduce((sum, r) => sum + r.granted, 0)).toBe(1800);
  });

  it('a draw leaves the budget one window after it was made; keys and policies are separate', async () => {
    const p = budget(60, 1500);
    const k = key();
    expect((await store.draw(k, p, 60, 10)).allowed).toBe(true);
    expect((await store.draw(key(), p, 60, 10)).allowed).toBe(true);
    expect((await store.draw(k, { ...p, name: 'other_budget' }, 60, 10)).allowed).toBe(true);
    const refused = await store.draw(k, p, 60, 10);
    expect(refused.allowed).toBe(false);
    await sleep(refused.retryAfterMs + 30);
    expect(summary(await store.draw(k, p, 60, 10))).toEqual([true, 60, 0]);
  });
});
