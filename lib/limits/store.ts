/**
 * The seam between the limiter stores (memory, Redis, resilient): the policy
 * and result types, the store interface, and the builders every store uses to
 * answer, so a result means the same thing whichever store produced it.
 *
 * Semantics: a policy of N per W never admits more than N requests in any
 * interval of length W, and a refused request consumes nothing.
 */

export interface RatePolicy {
  /** Short name used in keys and in the IETF `RateLimit` header. */
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
}

/**
 * Why a check answered as it did (the habit of @upstash/ratelimit's `reason`):
 * a full store or a degraded one must never look like a user's own limit in the logs.
 */
export type LimitReason = 'allowed' | 'limited' | 'store_full';

export interface RateLimitResult {
  readonly allowed: boolean;
  readonly reason: LimitReason;
  readonly policy: RatePolicy;
  readonly limit: number;
  /** Admits still available right now (after this one, if it was admitted). */
  readonly remaining: number;
  /** Unix ms when one more unit of quota frees up (the oldest admit leaves the window). */
  readonly resetAt: number;
  /** Milliseconds to wait before a retry can succeed; 0 when allowed. */
  readonly retryAfterMs: number;
}

/**
 * An admitted unit that can be given back: `release()` removes exactly this
 * admit (a no-op when refused, already released, or expired). Used to bound
 * work that must be paid for before its outcome is known, such as credential
 * verifications: reserve first, atomically, and release when it turned out fine.
 */
export interface Reservation extends RateLimitResult {
  release(): Promise<void>;
}

/**
 * Units drawn from a budget (call seconds per user per day): the units of
 * every draw stamped in the last `windowMs` add up to at most `limit`.
 * `refund(units)` gives back part of the grant (seconds a call did not use);
 * refunds never add up to more than was granted.
 */
export interface Allotment extends RateLimitResult {
  /** Units granted; 0 when refused. */
  readonly granted: number;
  refund(units: number): Promise<void>;
}

/** Both implementations pass tests/contract/rate-limit-store.contract.test.ts and tests/contract/budget.contract.test.ts. */
export interface RateLimitStore {
  /** Admits and records one request for `key` if the policy allows it. */
  hit(key: string, policy: RatePolicy): Promise<RateLimitResult>;
  /** {@link hit}, with a handle to give the admit back. */
  reserve(key: string, policy: RatePolicy): Promise<Reservation>;
  /** Reports the state for `key` without recording anything. */
  peek(key: string, policy: RatePolicy): Promise<RateLimitResult>;
  /**
   * Draws up to `want` units of `policy` (a budget of `limit` units per window)
   * for `key`: grants min(want, units left) when at least `min` are left, else
   * refuses and records nothing (`retryAfterMs`: until `min` units are free again).
   */
  draw(key: string, policy: RatePolicy, want: number, min: number): Promise<Allotment>;
  /** Releases timers and connections. */
  close(): Promise<void>;
}

export type Clock = () => number;

const NOTHING = async (): Promise<void> => {};

/** A reservation for `result`, released by `release` when it was admitted. */
export function reservation(result: RateLimitResult, release: () => Promise<void>): Reservation {
  let done = !result.allowed;
  return {
    ...result,
    release: done
      ? NOTHING
      : () => {
          if (done) return Promise.resolve();
          done = true;
          return release();
        },
  };
}

/** An admitted check: `remaining` after this admit, `resetAt` when the oldest admit leaves. */
export function admitted(policy: RatePolicy, remaining: number, resetAt: number): RateLimitResult {
  return { allowed: true, reason: 'allowed', policy, limit: policy.limit, remaining, resetAt, retryAfterMs: 0 };
}

/** A refused check: nothing recorded, retry in `waitMs` (at least 1 ms). */
export function refused(policy: RatePolicy, now: number, waitMs: number, reason: LimitReason = 'limited'): RateLimitResult {
  const wait = Math.max(1, waitMs);
  return { allowed: false, reason, policy, limit: policy.limit, remaining: 0, resetAt: now + wait, retryAfterMs: wait };
}

/** A read-only look: `size` admits in the window, one more unit free at `resetAt` (unix ms). */
export function peeked(policy: RatePolicy, size: number, resetAt: number, now: number): RateLimitResult {
  const full = size >= policy.limit;
  return {
    allowed: !full,
    reason: full ? 'limited' : 'allowed',
    policy,
    limit: policy.limit,
    remaining: policy.limit - size,
    resetAt,
    retryAfterMs: full ? Math.max(1, resetAt - now) : 0,
  };
}

/** Why a shared store failed, safe to log: never the error's message, which can name hosts. */
export type StoreFailure = 'timeout' | 'unavailable' | 'error';

/** A check a shared store could not answer; `reason` is safe to log. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';
  constructor(readonly reason: StoreFailure, options?: { cause?: unknown }) {
    super(`rate-limit store: ${reason}`, options);
  }
}

/** The failure reason of anything a store threw (duck-typed: bundles may hold two copies of the class). */
export function failureOf(error: unknown): StoreFailure {
  const reason = (error as { reason?: unknown } | null)?.reason;
  return reason === 'timeout' || reason === 'error' ? reason : 'unavailable';
}

/** A per-process store that can answer synchronously: the fallback of a shared one. */
export interface LocalRateLimitStore extends RateLimitStore {
  hitSync(key: string, policy: RatePolicy): RateLimitResult;
  reserveSync(key: string, policy: RatePolicy): Reservation;
  peekSync(key: string, policy: RatePolicy): RateLimitResult;
  drawSync(key: string, policy: RatePolicy, want: number, min: number): Allotment;
}

/**
 * An allotment for `result` granting `granted` units; `refund(n)` passes
 * at most the units not yet refunded to `giveBack`.
 */
export function allotment(result: RateLimitResult, granted: number, giveBack: (units: number) => Promise<void>): Allotment {
  let left = result.allowed ? granted : 0;
  return {
    ...result,
    granted: left,
    refund(units) {
      const n = Math.min(left, Math.max(0, Math.floor(units)));
      if (n === 0) return Promise.resolve();
      left -= n;
      return giveBack(n);
    },
  };
}

/** A shared store that can be health-checked without recording anything. */
export interface SharedRateLimitStore extends RateLimitStore {
  ping?(): Promise<void>;
}
