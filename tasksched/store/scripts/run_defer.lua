-- Defer a run: this host cannot take it now; it is re-queued with a delay by the caller.
-- KEYS[1] run hash, KEYS[2] run lock, KEYS[3] running zset
-- ARGV[1] run id, ARGV[2] attempt token ("" when the run never took the lock),
-- ARGV[3] reason, ARGV[4] countdown seconds, ARGV[5] the check that deferred it,
-- ARGV[6..] field/value pairs for the run (e.g. its checks so far)
-- Same guard as run_finish.lua. Returns the run's deferral count, or -1 when not applied.
local status = redis.call('HGET', KEYS[1], 'status')
if ARGV[2] ~= '' then
  if status ~= 'running' or redis.call('HGET', KEYS[1], 'lock_token') ~= ARGV[2] then
    return -1
  end
elseif status ~= 'queued' and status ~= 'deferred' then
  return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('HSET', KEYS[1], 'status', 'deferred', 'reason', ARGV[3], 'defer_check', ARGV[5],
  'next_attempt_at', string.format('%.6f', now + tonumber(ARGV[4])))
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
redis.call('HDEL', KEYS[1], 'lock_token', 'started_at')
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
end
return redis.call('HINCRBY', KEYS[1], 'deferrals', 1)
