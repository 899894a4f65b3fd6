import type { CallKind } from './adapter';

/**
 * Where calls are recorded: who owns each one, its upstream id and its
 * deadline. The process that placed a call supervises it; the registry lets
 * any instance answer for it (status, DELETE) and, with Redis, lets another
 * instance's sweeper hang up a call whose supervisor died
 * (lib/calls/registry-redis.ts). Ended calls stay readable for
 * {@link ENDED_TTL_MS}, so the page can learn why its call ended.
 */

export type EndReason = 'client' | 'max_duration' | 'override' | 'budget' | 'upstream';

export interface CallRecord {
  /** Our opaque id (`call_…`), the only one the browser sees. */
  readonly id: string;
  readonly owner: string;
  readonly kind: CallKind;
  readonly upstreamId: string;
  /** Unix ms. */
  readonly startedAt: number;
  readonly endsAt: number;
  /** What set `endsAt`: CALL_MAX_SECONDS, or the user's remaining minutes. */
  readonly limitedBy: 'max_duration' | 'budget';
  readonly state: 'active' | 'ended';
  readonly reason?: EndReason;
  readonly endedAt?: number;
}

export interface CallRegistry {
  /** True when other instances see the same records (Redis). */
  readonly shared: boolean;
  put(record: CallRecord): Promise<void>;
  get(id: string): Promise<CallRecord | undefined>;
  /**
   * Marks an active call ended, once: the first caller gets the record as it
   * was, every later one (on any instance) gets undefined.
   */
  finish(id: string, reason: EndReason, at: number): Promise<CallRecord | undefined>;
  /** Active calls whose deadline is before `before` (at most `limit`). */
  overdue(before: number, limit: number): Promise<CallRecord[]>;
  close(): Promise<void>;
}

export const ENDED_TTL_MS = 10 * 60_000;

/** The registry of one process (no Redis): a map, ended records dropped after their TTL. */
export class MemoryCallRegistry implements CallRegistry {
  readonly shared = false;
  private readonly records = new Map<string, CallRecord>();

  constructor(private readonly now: () => number) {}

  async put(record: CallRecord): Promise<void> {
    this.drop();
    this.records.set(record.id, record);
  }

  async get(id: string): Promise<CallRecord | undefined> {
    const record = this.records.get(id);
    if (record?.state === 'ended' && (record.endedAt ?? 0) + ENDED_TTL_MS <= this.now()) return undefined;
    return record;
  }

  async finish(id: string, reason: EndReason, at: number): Promise<CallRecord | undefined> {
    const record = this.records.get(id);
    if (record?.state !== 'active') return undefined;
    this.records.set(id, { ...record, state: 'ended', reason, endedAt: at });
    return record;
  }

  async overdue(before: number, limit: number): Promise<CallRecord[]> {
    return [...this.records.values()].filter((r) => r.state === 'active' && r.endsAt < before).slice(0, limit);
  }

  async close(): Promise<void> {
    this.records.clear();
  }

  /** Forgets ended calls past their TTL. */
  private drop(): void {
    const now = this.now();
    for (const [id, r] of this.records) if (r.state === 'ended' && (r.endedAt ?? 0) + ENDED_TTL_MS <= now) this.records.delete(id);
  }
}
