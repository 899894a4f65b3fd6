import { traceIdFrom, type SecurityLogger } from '../security-logger';
import type { DistinctPolicy, DistinctResult, LocalObservationStore, ObservationStore, TrendPolicy, TrendResult } from './observations';
import { allotment, failureOf, reservation, type Allotment, type Clock, type Reservation, type LocalRateLimitStore, type RatePolicy, type RateLimitResult, type RateLimitStore, type SharedRateLimitStore } from './store';

/**
 * The failure policy of the distributed limiter: when the shared
 * store is down, slow or answering errors, keep limiting with a per-process
 * memory store — never fail open, never throw — and go back to the shared
 * store when it answers again.
 *
 * - One `critical` `rate_limit_store_degraded` line per outage, one
 *   `rate_limit_store_recovered` line when it ends; never one per request.
 * - While degraded, at most one request per `probeIntervalMs` tries the
 *   shared store (so a slow server costs one deadline per interval, not one
 *   per request); {@link probe} does the same for the health route.
 * - After recovery, the admits this process granted during the outage still
 *   count until they leave their windows: a refusal stays a refusal even when
 *   the shared store came back empty (a restarted Redis without persistence).
 */

/** What the limiter runs on right now, as the health route reports it. */
export type LimiterState = 'redis' | 'redis-degraded';

/** The shared store; without the observation operations they are answered by the fallback alone. */
export type PrimaryStore = SharedRateLimitStore & Partial<ObservationStore>;

type Op = 'hit' | 'peek' | 'reserve';

export interface ResilientStoreOptions {
  /** The shared store (Redis). */
  primary: PrimaryStore;
  /** The per-process store used while the shared one fails. */
  fallback: LocalRateLimitStore & LocalObservationStore;
  logger: SecurityLogger;
  /** How often a degraded store tries the shared one again, in ms (default 1000). */
  probeIntervalMs?: number;
  /** Injected clock (default `Date.now`). */
  now?: Clock;
}

export class ResilientRateLimitStore implements RateLimitStore, ObservationStore {
  private readonly primary: PrimaryStore;
  private readonly fallback: LocalRateLimitStore & LocalObservationStore;
  private readonly logger: SecurityLogger;
  private readonly probeIntervalMs: number;
  private readonly now: Clock;
  private degradedSince: number | undefined;
  private nextProbeAt = 0;
  /** Longest window used by the fallback during the current outage. */
  private outageWindowMs = 0;
  /** Until when the fallback's records still count after a recovery. */
  private carryUntil = 0;

  constructor(options: ResilientStoreOptions) {
    this.primary = options.primary;
    this.fallback = options.fallback;
    this.logger = options.logger;
    this.probeIntervalMs = options.probeIntervalMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  get state(): LimiterState {
    return this.degradedSince === undefined ? 'redis' : 'redis-degraded';
  }

  hit(key: string, policy: RatePolicy): Promise<RateLimitResult> {
    return this.check('hit', key, policy);
  }

  peek(key: string, policy: RatePolicy): Promise<RateLimitResult> {
    return this.check('peek', key, policy);
  }

  /** A reservation on whichever stores recorded the admit; `release()` gives it back on each. */
  async reserve(key: string, policy: RatePolicy): Promise<Reservation> {
    return (await this.check('reserve', key, policy)) as Reservation;
  }

  // Observations have no carry-over: during an outage each instance observes on its own.
  readonly distinct = (key: string, member: string, p: DistinctPolicy): Promise<DistinctResult> =>
    this.observe(this.primary.distinct && (() => this.primary.distinct!(key, member, p)), () => this.fallback.distinctSync(key, member, p));
  readonly trend = (key: string, p: TrendPolicy): Promise<TrendResult> =>
    this.observe(this.primary.trend && (() => this.primary.trend!(key, p)), () => this.fallback.trendSync(key, p));

  /**
   * A budget draw on the shared store, on the fallback while it fails. While
   * the outage's draws still count, the draw is taken from the fallback first
   * and the shared store is asked for no more than it granted: the smaller grant wins.
   */
  async draw(key: string, policy: RatePolicy, want: number, min: number): Promise<Allotment> {
    const now = this.now();
    const down = this.degradedSince !== undefined;
    if (down && now < this.nextProbeAt) return this.localDraw(key, policy, want, min);
    let local: Allotment | undefined;
    if (down || now < this.carryUntil) {
      local = this.localDraw(key, policy, want, min);
      if (!local.allowed) return local;
    }
    if (down) this.nextProbeAt = now + this.probeIntervalMs;
    let shared: Allotment;
    try {
      shared = await this.primary.draw(key, policy, local?.granted ?? want, min);
    } catch (error) {
      this.degraded(error);
      return local ?? this.localDraw(key, policy, want, min);
    }
    this.recovered();
    if (local === undefined) return shared;
    const kept = local;
    await kept.refund(kept.granted - shared.granted);
    return allotment(shared, shared.granted, async (n) => void (await Promise.all([shared.refund(n), kept.refund(n)])));
  }

  /**
   * The current state, after pinging the shared store if the last probe is
   * more than `probeIntervalMs` old (so an outage shows up even without
   * traffic, and health checks cannot flood the server). Never throws.
   */
  async probe(): Promise<LimiterState> {
    const now = this.now();
    if (now < this.nextProbeAt || !this.primary.ping) return this.state;
    this.nextProbeAt = now + this.probeIntervalMs;
    try {
      await this.primary.ping();
      this.recovered();
    } catch (error) {
      this.degraded(error);
    }
    return this.state;
  }

  async close(): Promise<void> {
    await Promise.all([this.primary.close(), this.fallback.close()]);
  }

  private async check(op: Op, key: string, policy: RatePolicy): Promise<RateLimitResult> {
    const now = this.now();
    const down = this.degradedSince !== undefined;
    if (down && now < this.nextProbeAt) return this.local(op, key, policy);
    // A probe that succeeds ends the outage, so its answer already needs the local records.
    const carry = down || now < this.carryUntil;
    if (carry) {
      const local = this.fallback.peekSync(key, policy);
      if (!local.allowed) return op === 'reserve' ? reservation(local, async () => {}) : local;
    }
    // This request is the probe; the others keep using the fallback meanwhile.
    if (down) this.nextProbeAt = now + this.probeIntervalMs;
    let shared: RateLimitResult;
    try {
      shared = await this.primary[op](key, policy);
    } catch (error) {
      this.degraded(error);
      return this.local(op, key, policy);
    }
    this.recovered();
    if (!carry || !shared.allowed) return shared;
    // Admits keep being recorded locally while the outage's admits still count,
    // and the stricter answer wins.
    const local = this.record(op, key, policy);
    const answer = !local.allowed || local.remaining < shared.remaining ? local : shared;
    if (op !== 'reserve') return answer;
    const both = [shared as Reservation, local as Reservation];
    return reservation(answer, async () => void (await Promise.all(both.map((r) => r.release()))));
  }

  /** The shared answer; the local one while degraded (one probe per interval) or when the shared store fails. */
  private async observe<T>(shared: (() => Promise<T>) | undefined, local: () => T): Promise<T> {
    const now = this.now();
    if (shared === undefined || (this.degradedSince !== undefined && now < this.nextProbeAt)) return local();
    if (this.degradedSince !== undefined) this.nextProbeAt = now + this.probeIntervalMs;
    try {
      const answer = await shared();
      this.recovered();
      return answer;
    } catch (error) {
      this.degraded(error);
      return local();
    }
  }

  private local(op: Op, key: string, policy: RatePolicy): RateLimitResult {
    this.outageWindowMs = Math.max(this.outageWindowMs, policy.windowMs);
    return this.record(op, key, policy);
  }

  private localDraw(key: string, policy: RatePolicy, want: number, min: number): Allotment {
    this.outageWindowMs = Math.max(this.outageWindowMs, policy.windowMs);
    return this.fallback.drawSync(key, policy, want, min);
  }

  private record(op: Op, key: string, policy: RatePolicy): RateLimitResult {
    if (op === 'hit') return this.fallback.hitSync(key, policy);
    return op === 'reserve' ? this.fallback.reserveSync(key, policy) : this.fallback.peekSync(key, policy);
  }

  private degraded(error: unknown): void {
    const now = this.now();
    this.nextProbeAt = now + this.probeIntervalMs;
    if (this.degradedSince !== undefined) return;
    this.degradedSince = now;
    this.outageWindowMs = 0;
    this.logger.log(
      'critical',
      'rate_limit_store_degraded',
      'Shared rate-limit store failed; enforcing limits per instance in memory until it recovers',
      { traceId: traceIdFrom(null) },
      { store: 'redis', fallback: 'memory', reason: failureOf(error) },
    );
  }

  private recovered(): void {
    if (this.degradedSince === undefined) return;
    const now = this.now();
    this.logger.log(
      'info',
      'rate_limit_store_recovered',
      'Shared rate-limit store answers again; limits are shared across instances',
      { traceId: traceIdFrom(null) },
      { store: 'redis', degradedForMs: now - this.degradedSince },
    );
    this.carryUntil = Math.max(this.carryUntil, now + this.outageWindowMs);
    this.degradedSince = undefined;
  }
}
