-- Compare-and-set update of a schedule hash, keeping the due index in step.
-- KEYS[1] schedule hash, KEYS[2] due zset
-- ARGV[1] expected version ("" = any), ARGV[2] schedule id, ARGV[3] due action:
--   "keep" (leave due alone), "set" (ZADD ARGV[4] if active), "remove" (ZREM)
-- ARGV[5] new status ("" = unchanged), ARGV[6] write id (unique per call), ARGV[7..]
-- field/value pairs to set, then the marker "--del--" and fields to delete.
-- Idempotent: the same write id (a call retried after a lost reply) returns the version it
-- wrote and changes nothing (it would otherwise fail its own version check).
-- Returns {new_version} or {-1, actual_version} (stale) or {-2} (missing).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-2}
end
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if redis.call('HGET', KEYS[1], 'write_id') == ARGV[6] then
  return {version}
end
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= version then
  return {-1, version}
end
local i = 7
local deleting = false
while i <= #ARGV do
  if ARGV[i] == '--del--' then
    deleting = true
    i = i + 1
  elseif deleting then
    redis.call('HDEL', KEYS[1], ARGV[i])
    i = i + 1
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'status', ARGV[5])
end
local new_version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'write_id', ARGV[6])
local status = redis.call('HGET', KEYS[1], 'status')
if ARGV[3] == 'remove' or status ~= 'active' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[1], 'next_run')
elseif ARGV[3] == 'set' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
  redis.call('HSET', KEYS[1], 'next_run', ARGV[4])
end
return {new_version}
