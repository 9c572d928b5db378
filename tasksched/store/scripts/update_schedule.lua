-- Compare-and-set update of a schedule hash, keeping the due index in step.
-- KEYS[1] schedule hash, KEYS[2] due zset, KEYS[3] the schedule's runs zset, KEYS[4] pending zset
-- ARGV[1] expected version ("" = any), ARGV[2] schedule id, ARGV[3] due action:
--   "keep" (leave due alone), "set" (ZADD ARGV[4] if active), "remove" (ZREM)
-- ARGV[5] new status ("" = unchanged), ARGV[6] write id (unique per call), ARGV[7] now (the
-- store's time, as beat's), ARGV[8] run key prefix, ARGV[9] run tombstone key prefix,
-- ARGV[10] tombstone ttl ms, ARGV[11..] field/value pairs to set, then the marker "--del--"
-- and fields to delete.
-- A run claimed ahead of its fire time is cancelled when the schedule stops being active or its
-- next fire moves off that time; unchanged timing keeps it (lib/settle_staged.lua).
-- Idempotent: the same write id (a call retried after a lost reply) returns the version it
-- wrote and changes nothing (it would otherwise fail its own version check).
-- Returns {new_version} or {-1, actual_version} (stale) or {-2} (missing).
-- #include settle_staged
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
local i = 11
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
local next_fire = false
if status == 'active' and ARGV[3] == 'keep' then
  next_fire = true
elseif status == 'active' and ARGV[3] == 'set' then
  next_fire = ARGV[4]
end
settle_staged(KEYS[1], KEYS[3], KEYS[4], ARGV[7], ARGV[8], ARGV[9], ARGV[10], next_fire)
return {new_version}
