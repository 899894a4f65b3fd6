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

// The sliding log's layout: one string per key. A 16-digit header, then the
// admit stamps (server µs) as 16-digit records, oldest first:
//   <anchor><stamp 1><stamp 2>...
// A check is one GET and, for an admit, one in-place APPEND: fewer and cheaper
// calls than a sorted set for the small N of request limits (bench/redis.mjs,
// part 3), and a write per check instead of three. Records that left the window stay until the log holds N records,
// then one SET rewrites it with the live ones only: a key never holds more
// than N records (16·N + 16 bytes).
//
// TTL: the key must outlive its newest admit's window. Rather than a PEXPIRE
// per admit (the dearest call of the script), the TTL is set to the window
// plus a slack of an eighth of the window past the stamp in the header (the anchor),
// and set again, with a new anchor, only for an admit later than anchor +
// slack. An idle key so lives at most 1.125 windows
// after its last admit.
//
// Stamps are 16 digits from 2001-09-09 to 2286-11-20 (µs since the epoch);
// numbers passed to redis.call are written as plain digits below 1e21.
const LOG = `
local W = 16
local function at(log, i) return tonumber(string.sub(log, W + i * W + 1, W + i * W + W)) end
-- Index of the first record later than \`after\` (records are sorted).
local function first(log, size, after)
  if size == 0 or at(log, 0) > after then return 0 end
  local lo, hi = 1, size
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if at(log, mid) > after then hi = mid else lo = mid + 1 end
  end
  return lo
end
`;

/** The packed reply's base (HIT_SCRIPT): admits below it share one integer with the reset time. */
export const HIT_PACK = 2048;

/**
 * KEYS[1] limiter log; ARGV[1] limit N; ARGV[2] window in microseconds;
 * ARGV[3] '1' when the caller needs the admit's stamp (a reservation).
 * Counts the admits in the window and, only when fewer than N, records one
 * (a refusal writes nothing). Replies:
 * - an admit, stamp not asked for, fewer than HIT_PACK admits: one integer,
 *   reset * HIT_PACK + admits in the window, where reset is the whole ms
 *   (rounded up) when the oldest admit leaves the window. One integer instead
 *   of a reply table is the cheaper reply by about half a microsecond of
 *   server time per check (bench/redis.mjs); it stays below 2^53 until 2109;
 * - any other admit: {admits in the window, oldest admit, stamp} (µs);
 * - a refusal: {now, oldest admit} (µs).
 * The stamp is the record a released reservation removes.
 *
 * Admit stamps strictly increase per key: an admit in the same microsecond as
 * (or, after a clock step back, earlier than) the newest one is stamped one
 * microsecond after it. Records stay unique and sorted, and a later stamp
 * keeps an admit in the window longer, never shorter.
 */
export const HIT_SCRIPT = script(`${WRITE}${LOG}local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local slack = math.floor(window / 8)
if now < 1e15 or now >= 1e16 then return redis.error_reply('server clock out of range') end
local log = redis.call('GET', key)
local pack = ARGV[3] ~= '1'
if not log then
  local r = t[1] .. string.sub('00000' .. t[2], -6)
  redis.call('SET', key, r .. r, 'PX', math.ceil((window + slack) / 1000) + 1)
  if pack then return math.ceil((now + window) / 1000) * ${HIT_PACK} + 1 end
  return {1, now, now}
end
local size = (#log - W) / W
-- Most checks find the oldest record still in the window: no search.
local cut, oldest = 0, now
if size > 0 then oldest = at(log, 0) end
if size > 0 and oldest <= now - window then
  cut = first(log, size, now - window)
  oldest = cut < size and at(log, cut) or now
end
local n = size - cut
if n >= limit then return {now, oldest} end
local stamp = now
if n > 0 then
  local newest = size == 1 and oldest or at(log, size - 1)
  if newest >= stamp then stamp = newest + 1 end
end
local ttl = math.ceil((stamp - now + window + slack) / 1000) + 1
if size >= limit then
  -- Full of records, some of them expired: keep the live ones only.
  local r = int(stamp)
  redis.call('SET', key, r .. string.sub(log, W + cut * W + 1) .. r, 'PX', ttl)
else
  redis.call('APPEND', key, stamp)
  if stamp > tonumber(string.sub(log, 1, W)) + slack then
    redis.call('PEXPIRE', key, ttl)
    redis.call('SETRANGE', key, 0, stamp)
  end
end
if n == 0 then oldest = stamp end
if pack and n + 1 < ${HIT_PACK} then return math.ceil((oldest + window) / 1000) * ${HIT_PACK} + n + 1 end
return {n + 1, oldest, stamp}
`);

/**
 * KEYS[1] limiter log; ARGV[1] window in microseconds. Read-only.
 * Returns {admits in the window, now, oldest admit in the window or now} (µs).
 */
export const PEEK_SCRIPT = script(`
${NOW_US}${LOG}
local log = redis.call('GET', KEYS[1])
if not log then return {0, now, now} end
local size = (#log - W) / W
local cut = first(log, size, now - tonumber(ARGV[1]))
if cut == size then return {0, now, now} end
return {size - cut, now, at(log, cut)}
`);

/**
 * KEYS[1] limiter log; ARGV[1] an admit's stamp (µs). Removes that record
 * (a released reservation) and keeps the key's TTL; a stamp that already
 * left the log is simply not found. Returns 1 if removed, else 0.
 */
export const RELEASE_SCRIPT = script(`
if redis.replicate_commands then redis.replicate_commands() end
${LOG}
local key = KEYS[1]
local stamp = tonumber(ARGV[1])
local log = redis.call('GET', key)
if not log then return 0 end
local size = (#log - W) / W
-- Stamps are unique and sorted: the record is the one before the first later one.
local i = first(log, size, stamp) - 1
if i < 0 or at(log, i) ~= stamp then return 0 end
local rest = string.sub(log, 1, W + i * W) .. string.sub(log, W + i * W + W + 1)
local ttl = redis.call('PTTL', key)
if ttl > 0 then redis.call('SET', key, rest, 'PX', ttl) else redis.call('SET', key, rest) end
return 1
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
