import { MemoryObservations, type DistinctPolicy, type DistinctResult, type LocalObservationStore, type TrendPolicy, type TrendResult } from './observations';
import { MemoryBudgets } from './budget';
import { expire, push, unpush, type Entry } from './ring';
import { admitted, peeked, refused, reservation, type Allotment, type Clock, type Reservation, type RatePolicy, type RateLimitResult, type LocalRateLimitStore } from './store';

export interface MemoryStoreOptions {
  /** Most keys tracked at once (default 100 000). */
  maxKeys?: number;
  /** How often expired keys are swept, in ms (default 5 minutes). */
  sweepIntervalMs?: number;
  /** Injected clock (default `Date.now`). */
  now?: Clock;
  /** How many least-recently-used keys to inspect when the store is full (default 16). */
  evictionScan?: number;
}

/**
 * In-memory store. Bounded by `maxKeys`: when full it first drops keys whose
 * windows have emptied (losing nothing), then the least recently used key that
 * is not saturated, so a key that is being limited never gets a fresh window
 * by eviction. If every inspected key is saturated the new key is refused
 * rather than reset someone's limit (fail closed).
 *
 * Layout (bench/ measures it): entries are filed per policy name, then per
 * key, so a check builds no `policy:key` string (a fresh string must be
 * hashed again on every Map lookup) and two policies' keys cannot collide.
 * Recency is a doubly linked list across all policies, kept the CLOCK way
 * (second chance): a hit only marks its entry used; the eviction scan moves a
 * used entry to the newest end (clearing the mark) instead of evicting it. A
 * hit so writes to its own entry only: relinking on every hit touched two
 * neighbours, two cache misses per check among 100,000 keys (bench/limiters.mjs).
 */
export class MemoryRateLimitStore implements LocalRateLimitStore, LocalObservationStore {
  private readonly buckets = new Map<string, Map<string, Entry>>();
  private count = 0;
  /** Least recently used entry: where eviction scans start. */
  private oldest: Entry | undefined;
  private newest: Entry | undefined;
  private readonly maxKeys: number;
  private readonly evictionScan: number;
  private readonly now: Clock;
  private readonly timer: ReturnType<typeof setInterval> | undefined;
  /** The anomaly detectors' state, bounded by the same `maxKeys` (lib/limits/observations.ts). */
  private readonly observations: MemoryObservations;
  private readonly budgets: MemoryBudgets;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxKeys = options.maxKeys ?? 100_000;
    this.evictionScan = options.evictionScan ?? 16;
    this.now = options.now ?? Date.now;
    this.observations = new MemoryObservations(this.maxKeys);
    this.budgets = new MemoryBudgets(this.maxKeys, this.now);
    const every = options.sweepIntervalMs ?? 300_000;
    if (every > 0) {
      this.timer = setInterval(() => this.sweep(), every);
      this.timer.unref?.();
    }
  }

  /** Number of keys tracked (for tests and benchmarks). */
  get size(): number {
    return this.count;
  }

  async hit(key: string, policy: RatePolicy): Promise<RateLimitResult> {
    return this.hitSync(key, policy);
  }

  async peek(key: string, policy: RatePolicy): Promise<RateLimitResult> {
    return this.peekSync(key, policy);
  }

  async reserve(key: string, policy: RatePolicy): Promise<Reservation> {
    return this.reserveSync(key, policy);
  }

  readonly distinctSync = (key: string, member: string, p: DistinctPolicy): DistinctResult => this.observations.distinct(key, member, p, this.now());
  readonly trendSync = (key: string, p: TrendPolicy): TrendResult => this.observations.trend(key, p, this.now());
  readonly distinct = async (key: string, member: string, p: DistinctPolicy): Promise<DistinctResult> => this.distinctSync(key, member, p);
  readonly trend = async (key: string, p: TrendPolicy): Promise<TrendResult> => this.trendSync(key, p);
  async draw(key: string, policy: RatePolicy, want: number, min: number): Promise<Allotment> {
    return this.budgets.draw(key, policy, want, min);
  }

  /** Synchronous {@link draw} (lib/limits/budget.ts). */
  drawSync(key: string, policy: RatePolicy, want: number, min: number): Allotment {
    return this.budgets.draw(key, policy, want, min);
  }

  /** Synchronous {@link reserve}: the admit's time is its identity in the ring. */
  reserveSync(key: string, policy: RatePolicy): Reservation {
    const at = this.now();
    const result = this.hitAt(key, policy, at);
    return reservation(result, async () => {
      const entry = this.buckets.get(policy.name)?.get(key);
      if (entry) unpush(entry, at);
    });
  }

  /** Synchronous {@link hit}; the hot path of the route and the benchmark. */
  hitSync(key: string, policy: RatePolicy): RateLimitResult {
    return this.hitAt(key, policy, this.now());
  }

  private hitAt(key: string, policy: RatePolicy, now: number): RateLimitResult {
    let bucket = this.buckets.get(policy.name);
    if (bucket === undefined) {
      bucket = new Map();
      this.buckets.set(policy.name, bucket);
    }
    let entry = bucket.get(key);
    if (entry === undefined) {
      if (this.count >= this.maxKeys && !this.makeRoom(now)) {
        return refused(policy, now, policy.windowMs, 'store_full');
      }
      entry = {
        times: [],
        head: 0,
        size: 0,
        windowMs: policy.windowMs,
        limit: policy.limit,
        key,
        bucket,
        older: undefined,
        newer: undefined,
        used: false,
      };
      bucket.set(key, entry);
      this.count++;
      this.append(entry);
    } else {
      entry.used = true;
    }
    expire(entry, now);
    if (entry.size >= policy.limit) {
      const oldest = entry.times[entry.head];
      return refused(policy, now, oldest + policy.windowMs - now);
    }
    push(entry, now);
    return admitted(policy, policy.limit - entry.size, entry.times[entry.head] + policy.windowMs);
  }

  /** Synchronous {@link peek}. */
  peekSync(key: string, policy: RatePolicy): RateLimitResult {
    const now = this.now();
    const entry = this.buckets.get(policy.name)?.get(key);
    if (entry) expire(entry, now);
    const size = entry?.size ?? 0;
    return peeked(policy, size, (entry && size > 0 ? entry.times[entry.head] : now) + policy.windowMs, now);
  }

  /** Drops every key whose window holds no admits. Runs on the sweep timer. */
  sweep(): number {
    this.budgets.sweep();
    const now = this.now();
    let dropped = 0;
    for (let entry = this.oldest; entry !== undefined; ) {
      const next = entry.newer;
      expire(entry, now);
      if (entry.size === 0) {
        this.remove(entry);
        dropped++;
      }
      entry = next;
    }
    return dropped;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Frees one slot: an emptied key if the scan finds one (nothing is lost),
   * else the least recently used unsaturated key; false when only saturated
   * keys were found (the caller fails closed).
   */
  private makeRoom(now: number): boolean {
    const saturated: Entry[] = [];
    let victim: Entry | undefined;
    let entry = this.oldest;
    for (let inspected = 0; entry !== undefined && inspected < this.evictionScan; ) {
      const next: Entry | undefined = entry.newer;
      if (entry.used) {
        // Used since the scan last passed: a second chance at the newest end.
        entry.used = false;
        this.unlink(entry);
        this.append(entry);
        entry = next;
        continue;
      }
      inspected++;
      expire(entry, now);
      if (entry.size === 0) {
        victim = entry;
        break;
      }
      if (entry.size < entry.limit) victim ??= entry;
      else saturated.push(entry);
      entry = next;
    }
    // Saturated keys move to the recent end so the next scan sees other keys.
    for (const s of saturated) {
      this.unlink(s);
      this.append(s);
    }
    if (victim === undefined) return false;
    this.remove(victim);
    return true;
  }

  /** Makes `entry` the most recently used. */
  private append(entry: Entry): void {
    entry.older = this.newest;
    entry.newer = undefined;
    if (this.newest) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
  }

  private unlink(entry: Entry): void {
    if (entry.older) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    if (entry.newer) entry.newer.older = entry.older;
    else this.newest = entry.older;
    entry.older = undefined;
    entry.newer = undefined;
  }

  private remove(entry: Entry): void {
    this.unlink(entry);
    entry.bucket.delete(entry.key);
    this.count--;
  }
}
