-- Reset a schedule's failure streak and cooldown, and record it in the schedule's history.
-- KEYS[1] schedule hash, KEYS[2] history list
-- ARGV[1] now (epoch s), ARGV[2] who asked (free text), ARGV[3] history cap,
-- ARGV[4] reset id (unique per call)
-- Idempotent: the same reset id (a call retried after a lost reply) returns what the first call
-- returned and changes nothing (a second history entry, a second version bump).
-- Returns {-2} (missing) or {previous consecutive_failures, previous cooldown_until or ""}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-2}
end
local done = redis.call('HGET', KEYS[1], 'reset_id')
if done then
  local id, failures, cooldown = string.match(done, '^([^\t]*)\t([^\t]*)\t(.*)$')
  if id == ARGV[4] then
    return {tonumber(failures), cooldown}
  end
end
local failures = tonumber(redis.call('HGET', KEYS[1], 'consecutive_failures') or '0') or 0
local cooldown = redis.call('HGET', KEYS[1], 'cooldown_until') or ''
redis.call('HSET', KEYS[1], 'consecutive_failures', '0', 'updated_at', ARGV[1],
  'reset_id', ARGV[4] .. '\t' .. failures .. '\t' .. cooldown)
redis.call('HDEL', KEYS[1], 'cooldown_until')
redis.call('HINCRBY', KEYS[1], 'version', 1)
local entry = cjson.encode({
  event = 'failures_reset', at = tonumber(ARGV[1]), by = ARGV[2],
  previous_consecutive_failures = failures,
  previous_cooldown_until = (cooldown ~= '' and tonumber(cooldown)) or cjson.null,
})
redis.call('LPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
return {failures, cooldown}
