import { createHash } from 'node:crypto';

/**
 * The Redis store's scripts, one per check, each touching one key (so they
 * are cluster-safe). Their SHA1s are computed once at load and pinned by
 * tests/unit/redis-store.test.ts.
 */

/** A Lua script and its SHA1, computed once at load. */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

export function script(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

// Shared preamble: server time in microseconds. Integers up to 2^53 are exact
// in Lua's doubles; '%.0f' keeps them out of exponent notation in arguments.
export const NOW_US = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function int(n) return string.format('%.0f', n) end
`;

// Preamble of the scripts that write: server time, and the one key they touch.
const WRITE = `
-- Redis < 5 replicates scripts verbatim and refuses writes after TIME unless asked.
if redis.replicate_commands then redis.replicate_commands() end
${NOW_US}
local key = KEYS[1]
`;

/**
 * KEYS[1] limiter key; ARGV[1] limit N; ARGV[2] window in microseconds.
 * Returns {admitted 0|1, admits in the window, now, oldest admit} (µs), and
 * for an admit its stamp (the member a released reservation removes).
 *
 * Admit stamps strictly increase per key: an admit in the same microsecond as
 * (or, after a clock step back, earlier than) the newest one is stamped one
 * microsecond after it. Members stay unique, and a later stamp keeps an admit
 * in the window longer, never shorter.
 */
export const HIT_SCRIPT = script(`${WRITE}local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now - window))
local size = redis.call('ZCARD', key)
if size >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, size, now, tonumber(oldest[2])}
end
local stamp = now
local oldest
if size > 0 then
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if newest[2] ~= nil and tonumber(newest[2]) >= stamp then stamp = tonumber(newest[2]) + 1 end
  -- The new stamp is later than every admit kept, so the oldest stays the oldest.
  oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
else
  -- An empty window (most keys, most of the time): no reads needed (bench/limiters.mjs).
  oldest = stamp
end
redis.call('ZADD', key, int(stamp), int(stamp))
-- The key lives until its newest admit leaves the window (+1 ms: PEXPIRE counts whole ms).
redis.call('PEXPIRE', key, int(math.ceil((stamp - now + window) / 1000) + 1))
return {1, size + 1, now, oldest, stamp}
`);

/**
 * KEYS[1] limiter key; ARGV[1] window in microseconds. Read-only.
 * Returns {admits in the window, now, oldest admit in the window or now} (µs).
 */
export const PEEK_SCRIPT = script(`
${NOW_US}
local key = KEYS[1]
local after = '(' .. int(now - tonumber(ARGV[1]))
local size = redis.call('ZCOUNT', key, after, '+inf')
local oldest = redis.call('ZRANGEBYSCORE', key, after, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if oldest[2] == nil then return {size, now, now} end
return {size, now, tonumber(oldest[2])}
`);


/**
 * KEYS[1] sorted set of members by last-seen time; ARGV[1] member; ARGV[2]
 * window in microseconds; ARGV[3] most members kept. Records the member as
 * seen now, drops members that left the window and, over the cap, the oldest.
 * Returns the members, newest first.
 */
export const DISTINCT_SCRIPT = script(`${WRITE}local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
redis.call('ZADD', key, int(now), ARGV[1])
redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now - window))
local size = redis.call('ZCARD', key)
if size > max then redis.call('ZREMRANGEBYRANK', key, 0, size - max - 1) end
redis.call('PEXPIRE', key, int(math.ceil(window / 1000) + 1))
return redis.call('ZREVRANGE', key, 0, max - 1)
`);

/**
 * KEYS[1] hash {b bucket, c current, p previous, e EWMA, n buckets}; ARGV[1]
 * bucket length in microseconds; ARGV[2] alpha; ARGV[3] key TTL in ms.
 * Counts one event; the same fold as `foldTrend` in observations.ts.
 * Returns {current, previous, µs into the bucket, EWMA as text, buckets}.
 */
export const TREND_SCRIPT = script(`${WRITE}local size = tonumber(ARGV[1])
local alpha = tonumber(ARGV[2])
local bucket = math.floor(now / size)
local s = redis.call('HMGET', key, 'b', 'c', 'p', 'e', 'n')
local b, c, p, e, n = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), tonumber(s[4]), tonumber(s[5])
if b == nil or c == nil or p == nil or e == nil or n == nil then
  b, c, p, e, n = bucket, 1, 0, 0, 0
elseif bucket <= b then
  c = c + 1
else
  local gap = bucket - b - 1
  e = alpha * c + (1 - alpha) * e
  if gap > 0 then e = e * math.pow(1 - alpha, math.min(gap, 100000)) end
  if gap == 0 then p = c else p = 0 end
  n = math.min(n + 1 + gap, 1000000)
  b = bucket
  c = 1
end
local ewma = string.format('%.17g', e)
redis.call('HSET', key, 'b', int(b), 'c', c, 'p', p, 'e', ewma, 'n', n)
redis.call('PEXPIRE', key, ARGV[3])
return {c, p, now - bucket * size, ewma, n}
`);
