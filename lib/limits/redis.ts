import type { RedisConnection } from '../config/redis';
import { DISTINCT_SCRIPT, HIT_SCRIPT, PEEK_SCRIPT, TREND_SCRIPT, type LuaScript } from './lua';
import type { DistinctPolicy, DistinctResult, ObservationStore, TrendPolicy, TrendResult } from './observations';
import { DRAW_SCRIPT, drawAnswer, REFUND_SCRIPT } from './redis-budget';
import { closeRedisClient, createRedisClient, firstConnect, loadScripts, type RedisClient } from './redis-client';
import { redisDistinct, redisTrend, type ScriptRunner } from './redis-observations';
import { admitted, peeked, refused, reservation, StoreError, type Allotment, type Reservation, type RatePolicy, type RateLimitResult, type RateLimitStore, type StoreFailure } from './store';

/**
 * Exact sliding-window limiting on Redis, with the same semantics and result
 * objects as {@link MemoryRateLimitStore} (both pass tests/contract).
 *
 * Each key is a sorted set of its admit times (microseconds, Redis `TIME`),
 * bounded by N. One Lua script per check drops the admits that left the
 * window, counts the rest and, only when fewer than N remain, records the new
 * admit, so there is no read-then-write race between app servers and a
 * refused request writes nothing. The server's clock is the only clock, so
 * skew between app servers cannot shift windows. Keys carry a TTL equal to
 * their window and vanish once it has passed.
 */

/** Where the store's Redis is: a `redis://` or `rediss://` URL (credentials allowed; never logged), or any `config.redis` mode. */
export type RedisStoreTarget = { url: string } | { connection: RedisConnection };

export type RedisStoreOptions = RedisStoreTarget & {
  /** Prepended to every key (config `RATE_LIMIT_PREFIX`, default `rl:`). */
  prefix: string;
  /** Deadline per command in ms (default 50); a late answer counts as a failure. */
  timeoutMs?: number;
  /** Deadline for a TCP connect, and for the first check to wait for it, in ms (default 1000). */
  connectTimeoutMs?: number;
  /** Longest pause between reconnect attempts in ms (default 1000). */
  maxReconnectDelayMs?: number;
};

export type RedisFailure = StoreFailure;

/** A Redis check that failed; `reason` is safe to log. */
export class RedisStoreError extends StoreError {
  override readonly name = 'RedisStoreError';
  constructor(reason: RedisFailure, options?: { cause?: unknown }) {
    super(reason, options);
    this.message = `Redis rate-limit store: ${reason}`;
  }
}

/** Sorts an ioredis failure into a {@link RedisFailure}. */
export function classifyRedisError(error: unknown): RedisFailure {
  if (error instanceof RedisStoreError) return error.reason;
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : '';
  if (/timed out/i.test(message)) return 'timeout';
  // An error reply from the server (WRONGTYPE, OOM, BUSY, READONLY, …).
  if (name === 'ReplyError') return 'error';
  return 'unavailable';
}

/**
 * Rate-limit store on one Redis server. Every check is one script call with a
 * short deadline; failures reject with a {@link RedisStoreError} and nothing
 * is queued or retried, so a caller (see `ResilientRateLimitStore`) can fall
 * back at once. The client keeps reconnecting in the background.
 */
export class RedisRateLimitStore implements RateLimitStore, ObservationStore {
  private readonly client: RedisClient;
  private readonly prefix: string;
  private readonly connectTimeoutMs: number;
  private firstConnect: Promise<void> | undefined;
  private closed = false;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.prefix;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 1000;
    // Fail-fast in every mode (lib/limits/redis-client.ts): no offline queue, no retries, no
    // resend of a timed-out command, reconnecting in the background for as long as the process runs.
    this.client = createRedisClient('connection' in options ? options.connection : { mode: 'single', url: options.url }, {
      commandTimeoutMs: options.timeoutMs ?? 50,
      connectTimeoutMs: this.connectTimeoutMs,
      maxReconnectDelayMs: options.maxReconnectDelayMs,
      lazyConnect: true,
    });
    // Load the scripts on every (re)connect, so checks are called by SHA.
    this.client.on('ready', () => loadScripts(this.client, [HIT_SCRIPT, PEEK_SCRIPT, DRAW_SCRIPT, REFUND_SCRIPT, DISTINCT_SCRIPT, TREND_SCRIPT].map((s) => s.lua)));
  }

  /** The key for `key` under `policy`: `<prefix><policy name>:<key>`. */
  keyFor(key: string, policy: { readonly name: string }): string {
    return `${this.prefix}${policy.name}:${key}`;
  }

  // The observation operations (lib/limits/redis-observations.ts), through the same script runner.
  private readonly runner: ScriptRunner = (s, key, args) => this.run(s, key, args);
  readonly distinct = (key: string, member: string, p: DistinctPolicy): Promise<DistinctResult> => redisDistinct(this.runner, this.keyFor(key, p), member, p);
  readonly trend = (key: string, p: TrendPolicy): Promise<TrendResult> => redisTrend(this.runner, this.keyFor(key, p), p);

  async hit(key: string, policy: RatePolicy): Promise<RateLimitResult> {
    return (await this.check(key, policy)).result;
  }

  /** {@link hit}; `release()` removes the admit's own member with one ZREM (a failed ZREM keeps it counted: fail closed). */
  async reserve(key: string, policy: RatePolicy): Promise<Reservation> {
    const redisKey = this.keyFor(key, policy);
    const { result, stamp } = await this.check(key, policy);
    return reservation(result, async () => {
      await this.client.zrem(redisKey, stamp).catch(() => {});
    });
  }

  private async check(key: string, policy: RatePolicy): Promise<{ result: RateLimitResult; stamp: string }> {
    const windowUs = policy.windowMs * 1000;
    const reply = await this.run(HIT_SCRIPT, this.keyFor(key, policy), [policy.limit, windowUs]);
    const admittedReply = Array.isArray(reply) && reply[0] === 1;
    const [, size, now, oldest, stamp] = integers(reply, admittedReply ? 5 : 4);
    if (admittedReply) return { result: admitted(policy, policy.limit - size, ceilMs(oldest + windowUs)), stamp: String(stamp) };
    return { result: refused(policy, ceilMs(now), ceilMs(oldest + windowUs - now)), stamp: '' };
  }

  /** A budget draw (lib/limits/redis-budget.ts); a failed refund keeps the units spent: fail closed. */
  async draw(key: string, policy: RatePolicy, want: number, min: number): Promise<Allotment> {
    const redisKey = this.keyFor(key, policy);
    const reply = await this.run(DRAW_SCRIPT, redisKey, [policy.limit, policy.windowMs * 1000, want, min]);
    try {
      return drawAnswer(reply, policy, (stamp, units) => this.run(REFUND_SCRIPT, redisKey, [stamp, units]).then(() => {}, () => {}));
    } catch (error) {
      throw new RedisStoreError('error', { cause: error });
    }
  }

  async peek(key: string, policy: RatePolicy): Promise<RateLimitResult> {
    const windowUs = policy.windowMs * 1000;
    const reply = await this.run(PEEK_SCRIPT, this.keyFor(key, policy), [windowUs]);
    const [size, now, oldest] = integers(reply, 3);
    // Whole ms, each rounded up from the server's µs: no admit leaves its window early.
    const resetAt = ceilMs(oldest + windowUs);
    return peeked(policy, size, resetAt, resetAt - ceilMs(oldest + windowUs - now));
  }

  /** Resolves when the server answers PING within the deadline. */
  async ping(): Promise<void> {
    await this.connected();
    try {
      await this.client.ping();
    } catch (error) {
      throw new RedisStoreError(classifyRedisError(error), { cause: error });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    // QUIT, so the server sees the connection end after the last request (tests/reliability/shutdown.test.ts).
    await closeRedisClient(this.client);
  }

  /**
   * Calls `s` by SHA; on NOSCRIPT (a flushed cache, a failover to a server
   * that never saw it) sends the source with EVAL, which caches it again.
   */
  private async run(s: LuaScript, key: string, args: Array<string | number>): Promise<unknown> {
    await this.connected();
    try {
      try {
        return await this.client.evalsha(s.sha, 1, key, ...args);
      } catch (error) {
        if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
        return await this.client.eval(s.lua, 1, key, ...args);
      }
    } catch (error) {
      throw new RedisStoreError(classifyRedisError(error), { cause: error });
    }
  }

  /**
   * Waits for the very first connection (bounded by the connect deadline), so
   * a freshly started process does not call its first requests an outage.
   * Later disconnects fail at once: the client reconnects in the background.
   */
  private async connected(): Promise<void> {
    if (this.closed) throw new RedisStoreError('unavailable');
    if (this.ready) return;
    if (this.firstConnect === undefined) {
      this.firstConnect = this.waitForFirstConnect();
    }
    await this.firstConnect;
    if (!this.ready) throw new RedisStoreError('unavailable');
  }

  private get ready(): boolean {
    return this.client.status === 'ready';
  }

  private waitForFirstConnect(): Promise<void> {
    return firstConnect(this.client, this.connectTimeoutMs);
  }
}

function ceilMs(us: number): number {
  return Math.ceil(us / 1000);
}

/** The script's reply as `count` safe integers; anything else is a store error. */
function integers(reply: unknown, count: number): number[] {
  if (!Array.isArray(reply) || reply.length !== count || !reply.every((n) => Number.isSafeInteger(n))) {
    throw new RedisStoreError('error');
  }
  return reply as number[];
}
