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
export const HIT_SCRIPT = script(`
-- Redis < 5 replicates scripts verbatim and refuses writes after TIME unless asked.
if redis.replicate_commands then redis.replicate_commands() end
${NOW_US}
local key = KEYS[1]
local limit = tonumber(ARGV[1])
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

