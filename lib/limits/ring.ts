/**
 * The per-key ring of admit times behind the memory store: the times of the
 * last N admits, oldest at `head`, so a check is O(1) amortised and a key
 * costs at most N numbers.
 */

export interface Entry {
  /** Admit times, oldest at `head`; grows up to the policy's limit. */
  times: number[];
  head: number;
  size: number;
  windowMs: number;
  limit: number;
  /** Where the entry is filed, so eviction and the sweep can remove it. */
  readonly key: string;
  readonly bucket: Map<string, Entry>;
  /** Neighbours in the recency list (least recently used first). */
  older: Entry | undefined;
  newer: Entry | undefined;
  /** Hit since the eviction scan last passed it (CLOCK, lib/limits/memory.ts). */
  used: boolean;
}

export function expire(entry: Entry, now: number): void {
  const cutoff = now - entry.windowMs;
  while (entry.size > 0 && entry.times[entry.head] <= cutoff) {
    entry.head = (entry.head + 1) % entry.times.length;
    entry.size--;
  }
  if (entry.size === 0) {
    entry.head = 0;
    entry.times.length = 0;
  }
}

export function push(entry: Entry, now: number): void {
  const length = entry.times.length;
  if (entry.size < length) {
    entry.times[(entry.head + entry.size) % length] = now;
  } else if (length === 0) {
    // An exact one-slot array: V8 gives a pushed-to empty array 17 slots, and
    // most keys (one request per client) never need a second (bench/ key flood).
    entry.times = [now];
  } else {
    // The ring is full but below the limit: unroll it so it can grow. Growth
    // is rare (at most `limit` times per key) and keeps idle keys small.
    if (entry.head !== 0) {
      entry.times = entry.times.slice(entry.head).concat(entry.times.slice(0, entry.head));
      entry.head = 0;
    }
    entry.times.push(now);
  }
  entry.size++;
}

/**
 * Removes the newest admit stamped `at` (a released reservation). Admits with
 * the same stamp are interchangeable, so which one goes does not matter; a
 * stamp that already left the window is simply not found.
 */
export function unpush(entry: Entry, at: number): void {
  const length = entry.times.length;
  for (let i = entry.size - 1; i >= 0; i--) {
    if (entry.times[(entry.head + i) % length] !== at) continue;
    // Close the gap: shift the newer admits one slot towards the oldest.
    for (let j = i; j < entry.size - 1; j++) {
      entry.times[(entry.head + j) % length] = entry.times[(entry.head + j + 1) % length];
    }
    entry.size--;
    if (entry.size === 0) {
      entry.head = 0;
      entry.times.length = 0;
    }
    return;
  }
}
