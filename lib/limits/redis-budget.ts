import { NOW_US, script } from './lua';
import { admitted, allotment, refused, type Allotment, type RatePolicy } from './store';

/**
 * The Redis store's budgets (`draw`, lib/limits/store.ts): one sorted set per
 * key, one member per draw, `<stamp>:<units>` scored by its stamp (server
 * time in µs, strictly increasing per key as in HIT_SCRIPT). One script
 * draws, one refunds; each touches its one key, so both are cluster-safe.
 * A user's draws per day are few (one per call), so summing them is cheap.
 */

/**
 * KEYS[1] budget key; ARGV limit, window (µs), want, min.
 * Refused: {0, now, µs when `min` units are free again}.
 * Granted: {1, now, µs when the oldest draw leaves, units left, units granted, stamp}.
 */
export const DRAW_SCRIPT = script(`
if redis.replicate_commands then redis.replicate_commands() end
${NOW_US}
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local min = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now - window))
local draws = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
local function units(member) return tonumber(string.match(member, ':(%d+)$')) end
local used = 0
for i = 1, #draws, 2 do used = used + units(draws[i]) end
local left = limit - used
if left < min then
  if #draws == 0 then return {0, now, now + window} end
  local freed = left
  local at = tonumber(draws[#draws])
  for i = 1, #draws, 2 do
    freed = freed + units(draws[i])
    if freed >= min then at = tonumber(draws[i + 1]) break end
  end
  return {0, now, at + window}
end
local grant = math.min(want, left)
local stamp = now
local oldest = now
if #draws > 0 then
  oldest = tonumber(draws[2])
  if tonumber(draws[#draws]) >= stamp then stamp = tonumber(draws[#draws]) + 1 end
end
redis.call('ZADD', key, int(stamp), int(stamp) .. ':' .. int(grant))
redis.call('PEXPIRE', key, int(math.ceil((stamp - now + window) / 1000) + 1))
return {1, now, oldest + window, left - grant, grant, stamp}
`);

/** KEYS[1] budget key; ARGV stamp, units to give back. Returns 1 when the draw was still there. */
export const REFUND_SCRIPT = script(`
local key = KEYS[1]
local found = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
if found[1] == nil then return 0 end
local keep = tonumber(string.match(found[1], ':(%d+)$')) - tonumber(ARGV[2])
redis.call('ZREM', key, found[1])
if keep > 0 then redis.call('ZADD', key, ARGV[1], ARGV[1] .. ':' .. string.format('%.0f', keep)) end
return 1
`);

/** The store answer for a DRAW_SCRIPT reply; `refund(stamp, units)` runs REFUND_SCRIPT. */
export function drawAnswer(reply: unknown, policy: RatePolicy, refund: (stamp: string, units: number) => Promise<void>): Allotment {
  const ok = Array.isArray(reply) && reply.every((n) => Number.isSafeInteger(n));
  const [granted, now, at, left, units, stamp] = ok ? (reply as number[]) : [];
  const ms = (us: number) => Math.ceil(us / 1000);
  if (ok && granted === 0 && reply.length === 3) return allotment(refused(policy, ms(now), ms(at) - ms(now)), 0, async () => {});
  if (!ok || granted !== 1 || reply.length !== 6) throw new TypeError('unexpected budget script reply');
  return allotment(admitted(policy, left, ms(at)), units, (n) => refund(String(stamp), n));
}
