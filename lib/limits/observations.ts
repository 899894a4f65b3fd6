/**
 * Observations: the store operations behind the anomaly detectors (lib/anomaly/).
 * Unlike a limit they never refuse; they remember what a key did recently, in
 * the same store as the limits (memory, Redis, resilient), so detection works
 * across instances with Redis and stays bounded in memory.
 *
 * - {@link ObservationStore.distinct}: the distinct members (networks, countries)
 *   a key was seen with inside a sliding window, newest first, at most `maxMembers`.
 * - {@link ObservationStore.trend}: counts one event for a key in fixed buckets
 *   and keeps an exponentially weighted moving average (EWMA) of the completed
 *   buckets, the key's own baseline.
 */

export interface DistinctPolicy {
  /** Short name used in keys. */
  readonly name: string;
  readonly windowMs: number;
  /** Members kept per key (the newest); a count at the cap means "at least". */
  readonly maxMembers: number;
}

export interface DistinctResult {
  /** Distinct members inside the window, newest first (this one included). */
  readonly members: readonly string[];
}

export interface TrendPolicy {
  readonly name: string;
  /** Bucket length: the baseline is the EWMA of whole buckets' counts. */
  readonly bucketMs: number;
  /** EWMA weight of the newest completed bucket, 0 < alpha ≤ 1. */
  readonly alpha: number;
}

export interface TrendResult {
  /** Events in the current bucket (this one included). */
  readonly current: number;
  /** Events in the bucket before it (0 when that bucket was empty or long past). */
  readonly previous: number;
  /** How far into the current bucket this event fell, 0 ≤ elapsed < 1. */
  readonly elapsed: number;
  /** EWMA of completed buckets' counts (0 for a new key). */
  readonly baseline: number;
  /** Completed buckets folded into the baseline (capped at 1 000 000). */
  readonly buckets: number;
}

/** Both implementations pass tests/contract/observation-store.contract.test.ts. */
export interface ObservationStore {
  distinct(key: string, member: string, policy: DistinctPolicy): Promise<DistinctResult>;
  trend(key: string, policy: TrendPolicy): Promise<TrendResult>;
}

/** A per-process observation store that answers synchronously: the fallback of a shared one. */
export interface LocalObservationStore extends ObservationStore {
  distinctSync(key: string, member: string, policy: DistinctPolicy): DistinctResult;
  trendSync(key: string, policy: TrendPolicy): TrendResult;
}

/**
 * Events in the last bucket-length of time, estimated from two buckets (the
 * previous bucket weighted by how much of it still overlaps the sliding window).
 */
export function recentCount(t: TrendResult): number {
  return t.current + t.previous * (1 - t.elapsed);
}

/** The next trend state after one event at bucket `bucket` (shared by the memory store; lua.ts mirrors it). */
export function foldTrend(state: TrendState | undefined, bucket: number, alpha: number): TrendState {
  if (state === undefined) return { bucket, current: 1, previous: 0, baseline: 0, buckets: 0 };
  if (bucket <= state.bucket) return { ...state, current: state.current + 1 };
  const gap = bucket - state.bucket - 1;
  // The baseline starts at 0 (a quiet history), so a new key's first burst does not become its own baseline.
  let baseline = alpha * state.current + (1 - alpha) * state.baseline;
  if (gap > 0) baseline *= Math.pow(1 - alpha, Math.min(gap, 100_000));
  return { bucket, current: 1, previous: gap === 0 ? state.current : 0, baseline, buckets: Math.min(state.buckets + 1 + gap, 1_000_000) };
}

export interface TrendState {
  bucket: number;
  current: number;
  previous: number;
  baseline: number;
  buckets: number;
}

type Slot = ({ kind: 'distinct'; seen: Map<string, number> } | { kind: 'trend'; state?: TrendState }) & { used: boolean };

/**
 * The memory implementation, bounded by `maxKeys` across both operations.
 * Eviction is "second chance" (CLOCK): keys sit in insertion order, a touch
 * only sets a flag, and when the store is full the oldest key is dropped
 * unless it was touched since it was last passed over, in which case it moves
 * to the end with its flag cleared. That approximates least-recently-used
 * without a Map delete and re-insert on every touch (which V8 pays for in
 * table rehashing). Losing a key's observations costs at most a missed
 * detection, never a refusal.
 */
export class MemoryObservations {
  private readonly slots = new Map<string, Slot>();

  constructor(private readonly maxKeys: number) {}

  get size(): number {
    return this.slots.size;
  }

  distinct(key: string, member: string, policy: DistinctPolicy, now: number): DistinctResult {
    const slot = this.touch(`${policy.name}\0${key}`, () => ({ kind: 'distinct', seen: new Map(), used: false }));
    if (slot.kind !== 'distinct') throw new TypeError(`observation ${policy.name} is not a distinct set`);
    const { seen } = slot;
    seen.delete(member);
    seen.set(member, now);
    // Insertion order is recency order: the oldest entries come first.
    for (const [m, at] of seen) {
      if (at > now - policy.windowMs && seen.size <= policy.maxMembers) break;
      seen.delete(m);
    }
    return { members: [...seen.keys()].reverse() };
  }

  trend(key: string, policy: TrendPolicy, now: number): TrendResult {
    const slot = this.touch(`${policy.name}\0${key}`, () => ({ kind: 'trend', used: false }));
    if (slot.kind !== 'trend') throw new TypeError(`observation ${policy.name} is not a trend`);
    const bucket = Math.floor(now / policy.bucketMs);
    const { current, previous, baseline, buckets } = (slot.state = foldTrend(slot.state, bucket, policy.alpha));
    return { current, previous, elapsed: (now - bucket * policy.bucketMs) / policy.bucketMs, baseline, buckets };
  }

  private touch(id: string, create: () => Slot): Slot {
    const found = this.slots.get(id);
    if (found !== undefined) {
      found.used = true;
      return found;
    }
    while (this.slots.size >= this.maxKeys) {
      const [oldest, slot] = this.slots.entries().next().value!;
      this.slots.delete(oldest);
      if (!slot.used) break;
      slot.used = false;
      this.slots.set(oldest, slot);
    }
    const slot = create();
    this.slots.set(id, slot);
    return slot;
  }
}
