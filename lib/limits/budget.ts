import { admitted, allotment, refused, type Allotment, type Clock, type RatePolicy } from './store';

/**
 * The memory store's budgets (`draw`): per policy and key, the draws still in
 * the window, oldest first, each with the units it holds now (a refund lowers
 * them). A key costs one small object per call it paid for, and a user opens
 * few calls a day, so a plain array is enough. Bounded by `maxKeys` like the
 * rest of the memory store: a new key beyond it is refused (`store_full`).
 */

interface Draw {
  readonly at: number;
  units: number;
}

export class MemoryBudgets {
  private readonly buckets = new Map<string, { windowMs: number; keys: Map<string, Draw[]> }>();
  private count = 0;

  constructor(
    private readonly maxKeys: number,
    private readonly now: Clock,
  ) {}

  draw(key: string, policy: RatePolicy, want: number, min: number): Allotment {
    const now = this.now();
    let filed = this.buckets.get(policy.name);
    if (filed === undefined) this.buckets.set(policy.name, (filed = { windowMs: policy.windowMs, keys: new Map() }));
    const bucket = filed.keys;
    let draws = bucket.get(key);
    if (draws === undefined) {
      if (this.count >= this.maxKeys) this.sweep();
      if (this.count >= this.maxKeys) return allotment(refused(policy, now, policy.windowMs, 'store_full'), 0, noop);
      draws = [];
    }
    expire(draws, now - policy.windowMs);
    const used = draws.reduce((sum, d) => sum + d.units, 0);
    const left = policy.limit - used;
    if (left < min) {
      if (draws.length === 0) return allotment(refused(policy, now, policy.windowMs), 0, noop);
      // Until enough of the oldest draws leave the window for `min` units to be free.
      let freed = left;
      const until = draws.find((d) => (freed += d.units) >= min);
      return allotment(refused(policy, now, (until ?? draws[draws.length - 1]).at + policy.windowMs - now), 0, noop);
    }
    const entry: Draw = { at: now, units: Math.min(want, left) };
    draws.push(entry);
    if (!bucket.has(key)) {
      bucket.set(key, draws);
      this.count++;
    }
    const result = admitted(policy, left - entry.units, draws[0].at + policy.windowMs);
    return allotment(result, entry.units, async (units) => {
      entry.units = Math.max(0, entry.units - units);
    });
  }

  /** Drops every key with nothing left in its window. */
  sweep(): void {
    const now = this.now();
    for (const { windowMs, keys } of this.buckets.values()) {
      for (const [key, draws] of keys) {
        expire(draws, now - windowMs);
        if (draws.length > 0) continue;
        keys.delete(key);
        this.count--;
      }
    }
  }
}

const noop = async (): Promise<void> => {};

function expire(draws: Draw[], cutoff: number): void {
  let n = 0;
  while (n < draws.length && draws[n].at <= cutoff) n++;
  if (n > 0) draws.splice(0, n);
}
