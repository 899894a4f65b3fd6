import type { Writable } from 'node:stream';
import type { RedisConnection } from '../config/redis';
import { DISTINCT_SCRIPT, HIT_PACK, HIT_SCRIPT, PEEK_SCRIPT, RELEASE_SCRIPT, TREND_SCRIPT, type LuaScript } from './lua';
import type { DistinctPolicy, DistinctResult, ObservationStore, TrendPolicy, TrendResult } from './observations';
import { DRAW_SCRIPT, drawAnswer, REFUND_SCRIPT } from './redis-budget';
import { closeRedisClient, createRedisClient, firstConnect, loadScripts, type RedisClient } from './redis-client';
import { redisDistinct, redisTrend, type ScriptRunner } from './redis-observations';
import { admitted, peeked, refused, reservation, StoreError, type Allotment, type Reservation, type RatePolicy, type RateLimitResult, type RateLimitStore, type StoreFailure } from './store';

/**
 * Exact sliding-window limiting on Redis, with the same semantics and result
 * objects as {@link MemoryRateLimitStore} (both pass tests/contract).
 *
 * Each key is a log of its admit times (microseconds, Redis `TIME`; layout
 * in lib/limits/lua.ts), bounded by N. One Lua script per check drops the admits that left the
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
  /** Checks written in this tick, held until its end (see `coalesce`). */
  private held = 0;

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
    this.client.on('ready', () => loadScripts(this.client, [HIT_SCRIPT, PEEK_SCRIPT, RELEASE_SCRIPT, DRAW_SCRIPT, REFUND_SCRIPT, DISTINCT_SCRIPT, TREND_SCRIPT].map((s) => s.lua)));
  }

  /** The key for `key` under `policy`: `<prefix><policy name>:<key>`. */
  keyFor(key: string, policy: { readonly name: string }): string {
    return `${this.prefix}${policy.name}:${key}`;
  }

  // The observation operations (lib/limits/redis-observations.ts), through the same script runner.
  private readonly runner: ScriptRunner = (s, key, args) => this.run(s, key, args);
  readonly distinct = (key: string, member: string, p: DistinctPolicy): Promise<DistinctResult> => redisDistinct(this.runner, this.keyFor(key, p), member, p);
  readonly trend = (key: string, p: TrendPolicy): Promise<TrendResult> => redisTrend(this.runner, this.keyFor(key, p), p);

  /**
   * The key of `key`'s admit log under `policy`: {@link keyFor} of the policy
   * name plus `#2`. The suffix versions the layout (a string since v2; a
   * sorted set before): during a rolling deploy old and new instances then
   * keep separate logs instead of failing each other's checks with WRONGTYPE.
   */
  logKey(key: string, policy: RatePolicy): string {
    return this.keyFor(key, { name: `${policy.name}${LOG_VERSION}` });
  }

  hit(key: string, policy: RatePolicy): Promise<RateLimitResult> {
    const windowUs = policy.windowMs * 1000;
    return this.run(HIT_SCRIPT, this.logKey(key, policy), [policy.limit, windowUs]).then((reply) => hitAnswer(reply, policy, windowUs).result);
  }

  /** {@link hit}; `release()` removes the admit's own record (a failed release keeps it counted: fail closed). */
  async reserve(key: string, policy: RatePolicy): Promise<Reservation> {
    const logKey = this.logKey(key, policy);
    const windowUs = policy.windowMs * 1000;
    const { result, stamp } = hitAnswer(await this.run(HIT_SCRIPT, logKey, [policy.limit, windowUs, 1]), policy, windowUs);
    return reservation(result, async () => {
      await this.run(RELEASE_SCRIPT, logKey, [stamp]).catch(() => {});
    });
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
    const reply = await this.run(PEEK_SCRIPT, this.logKey(key, policy), [windowUs]);
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
  private run(s: LuaScript, key: string, args: Array<string | number>): Promise<unknown> {
    // Once connected, straight to the client: no extra await per check (bench/redis.mjs).
    if (this.closed || !this.ready) return this.connected().then(() => this.send(s, key, args));
    return this.send(s, key, args);
  }

  private send(s: LuaScript, key: string, args: Array<string | number>): Promise<unknown> {
    this.coalesce();
    return this.client.evalsha(s.sha, 1, key, ...args).then(undefined, (error: unknown) => {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw storeError(error);
      return this.client.eval(s.lua, 1, key, ...args).then(undefined, (again: unknown) => {
        throw storeError(again);
      });
    });
  }

  /**
   * Holds the socket's writes until the end of this tick, so the checks that
   * callers issue together (many requests resumed by one batch of replies)
   * leave in one write instead of one system call each: the largest cost of
   * a check in Node (bench/redis.mjs, V8 profile: `writeUtf8String`). A client
   * without one socket (a cluster) has no `stream` and writes as before.
   */
  private coalesce(): void {
    const stream = (this.client as { stream?: Partial<Writable> }).stream;
    if (typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') return;
    if (this.held === 0) {
      stream.cork();
      process.nextTick(() => {
        this.held = 0;
        stream.uncork?.();
      });
    } else if (this.held % COALESCE_MAX === 0) {
      // Let a long burst go in slices, so the server starts on the first
      // checks while later ones are still being issued.
      stream.uncork();
      stream.cork();
    }
    this.held++;
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

/** Suffix of the admit logs' policy names: the layout's version (see `logKey`). */
const LOG_VERSION = '#2';

/** Most checks held in one write (see `coalesce`). */
const COALESCE_MAX = 16;

function storeError(error: unknown): RedisStoreError {
  return new RedisStoreError(classifyRedisError(error), { cause: error });
}

function ceilMs(us: number): number {
  return Math.ceil(us / 1000);
}

/** HIT_SCRIPT's reply (lib/limits/lua.ts) as a result and, for an admit, its stamp; anything else is a store error. */
function hitAnswer(reply: unknown, policy: RatePolicy, windowUs: number): { result: RateLimitResult; stamp: number } {
  if (typeof reply === 'number' && Number.isSafeInteger(reply) && reply > 0) {
    // An admit packed in one integer: reset ms * HIT_PACK + admits in the window.
    const size = reply % HIT_PACK;
    return { result: admitted(policy, policy.limit - size, (reply - size) / HIT_PACK), stamp: 0 };
  }
  if (Array.isArray(reply) && reply.length === 3) {
    const [size, oldest, stamp] = integers(reply, 3);
    return { result: admitted(policy, policy.limit - size, ceilMs(oldest + windowUs)), stamp };
  }
  const [now, oldest] = integers(reply, 2);
  return { result: refused(policy, ceilMs(now), ceilMs(oldest + windowUs - now)), stamp: 0 };
}

/** The script's reply as `count` safe integers; anything else is a store error. */
function integers(reply: unknown, count: number): number[] {
  if (!Array.isArray(reply) || reply.length !== count || !reply.every((n) => Number.isSafeInteger(n))) {
    throw new RedisStoreError('error');
  }
  return reply as number[];
}
