-- Defer a run: this host cannot take it now; it is re-queued with a delay by the caller.
-- KEYS[1] run hash, KEYS[2] run lock, KEYS[3] running zset, KEYS[4] pending zset
-- ARGV[1] run id, ARGV[2] attempt token, ARGV[3] "1" when that token holds the run lock (the
-- run was claimed), "0" when the lock was busy (the run is still queued or deferred),
-- ARGV[4] reason, ARGV[5] countdown seconds, ARGV[6] the check that deferred it,
-- ARGV[7] pending deadline (epoch s: the pending sweep ends the run if no worker took it by
-- then), ARGV[8..] field/value pairs for the run (e.g. its checks so far)
-- Applies only to this attempt's run: claimed (running under the token) or, without the lock,
-- queued or deferred. Idempotent: the attempt that deferred the run asking again (a call
-- retried after a lost reply) gets the same deferral count and changes nothing.
-- Returns the run's deferral count, or -1 when not applied.
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'deferred' and redis.call('HGET', KEYS[1], 'defer_token') == ARGV[2] then
  return tonumber(redis.call('HGET', KEYS[1], 'deferrals') or '0')
end
if ARGV[3] == '1' then
  if status ~= 'running' or redis.call('HGET', KEYS[1], 'lock_token') ~= ARGV[2] then
    return -1
  end
elseif status ~= 'queued' and status ~= 'deferred' then
  return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('HSET', KEYS[1], 'status', 'deferred', 'reason', ARGV[4], 'defer_check', ARGV[6],
  'next_attempt_at', string.format('%.6f', now + tonumber(ARGV[5])), 'defer_token', ARGV[2])
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
redis.call('HDEL', KEYS[1], 'lock_token', 'started_at')
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[1])
if ARGV[3] == '1' and redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
end
return redis.call('HINCRBY', KEYS[1], 'deferrals', 1)
