import type { RedisConnection } from '../config/redis';
import { closeRedisClient, createRedisClient, type RedisClient } from '../limits/redis-client';
import { script, type LuaScript } from '../limits/lua';
import { ENDED_TTL_MS, type CallRecord, type CallRegistry, type EndReason } from './registry';

/**
 * The call registry on Redis, shared by every instance. Each call is one JSON
 * string; a sorted set indexes active calls by deadline for the sweepers.
 * Every key carries the hash tag `{calls}`, so the scripts stay on one slot
 * of a cluster. A record outlives its deadline by {@link ENDED_TTL_MS}, so a
 * crashed writer leaves nothing behind for long.
 */

/** KEYS record, index; ARGV id, json, deadline, ttl ms. */
const PUT = script(`
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
`);

/** KEYS record, index; ARGV id, reason, at (ms), ttl ms. Returns the active record once, else false. */
const FINISH = script(`
local json = redis.call('GET', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not json then return false end
local record = cjson.decode(json)
if record.state ~= 'active' then return false end
record.state = 'ended'
record.reason = ARGV[2]
record.endedAt = tonumber(ARGV[3])
redis.call('SET', KEYS[1], cjson.encode(record), 'PX', ARGV[4])
return json
`);

/**
 * The two keys a registry script touches: the call's record and the deadline
 * index. Both carry the hash tag `{calls}`, so they share one cluster slot
 * (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags);
 * all calls then live on one primary, which their numbers (a few per user) allow.
 */
export function callKeys(prefix: string, id: string): { readonly record: string; readonly index: string } {
  return { record: `${prefix}{calls}:call:${id}`, index: `${prefix}{calls}:deadlines` };
}

export interface RedisRegistryOptions {
  /** Any `config.redis` mode; a URL string is a single server. */
  readonly connection: RedisConnection | string;
  readonly prefix: string;
  readonly timeoutMs: number;
}

export class RedisCallRegistry implements CallRegistry {
  readonly shared = true;
  private readonly client: RedisClient;
  private readonly index: string;

  constructor(private readonly options: RedisRegistryOptions) {
    const { connection } = options;
    // Unlike the limiter this has no fallback, and its writes are idempotent (SET, ZADD, ZREM):
    // it queues while connecting and retries once (lib/limits/redis-client.ts).
    this.client = createRedisClient(typeof connection === 'string' ? { mode: 'single', url: connection } : connection, {
      commandTimeoutMs: Math.max(options.timeoutMs, 250),
      connectTimeoutMs: 1000,
      lazyConnect: false,
      queueWhileConnecting: { retries: 1 },
    });
    // Errors name the host: the factory's listener drops them, and the supervisor logs a fixed text.
    this.index = callKeys(options.prefix, '').index;
  }

  private key(id: string): string {
    return callKeys(this.options.prefix, id).record;
  }

  private run(s: LuaScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    return this.client.evalsha(s.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
      return this.client.eval(s.lua, keys.length, ...keys, ...args);
    });
  }

  async put(record: CallRecord): Promise<void> {
    const ttl = Math.max(1, record.endsAt - Date.now()) + ENDED_TTL_MS;
    await this.run(PUT, [this.key(record.id), this.index], [record.id, JSON.stringify(record), record.endsAt, ttl]);
  }

  async get(id: string): Promise<CallRecord | undefined> {
    return parse(await this.client.get(this.key(id)));
  }

  async finish(id: string, reason: EndReason, at: number): Promise<CallRecord | undefined> {
    return parse(await this.run(FINISH, [this.key(id), this.index], [id, reason, at, ENDED_TTL_MS]));
  }

  async overdue(before: number, limit: number): Promise<CallRecord[]> {
    const ids = await this.client.zrangebyscore(this.index, '-inf', `(${before}`, 'LIMIT', 0, limit);
    if (ids.length === 0) return [];
    const records = (await this.client.mget(ids.map((id) => this.key(id)))).map(parse);
    // Records that expired leave their index entry behind: drop it.
    const gone = ids.filter((_, i) => records[i] === undefined);
    if (gone.length > 0) await this.client.zrem(this.index, ...gone);
    return records.filter((r): r is CallRecord => r?.state === 'active');
  }

  async close(): Promise<void> {
    await closeRedisClient(this.client, { quit: false });
  }
}

function parse(value: unknown): CallRecord | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const record = JSON.parse(value) as CallRecord;
    return typeof record.id === 'string' && typeof record.owner === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}
