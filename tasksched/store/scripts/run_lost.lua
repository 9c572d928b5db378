-- An attempt whose worker stopped (its run lock expired, or it lost the lock): run it once
-- more, or end it as lost. Never a training failure.
-- KEYS[1] run hash, KEYS[2] schedule hash, KEYS[3] run lock, KEYS[4] running zset,
-- KEYS[5] metrics hash, KEYS[6] pending zset, KEYS[7] run tombstone
-- ARGV[1] run id, ARGV[2] the lost attempt's token, ARGV[3] reason, ARGV[4] lost id (unique
-- per call), ARGV[5] re-runs allowed after a lost attempt, ARGV[6] pending deadline of a
-- re-queued run (epoch s), ARGV[7] tombstone ttl ms, ARGV[8] "1": only if the lock is gone
-- (a sweep; an owner that lost its lock passes "0")
-- Applies only while the run is running under that token. Each lost attempt counts
-- `lost_runs` on the schedule and `runs_lost` globally; consecutive failures do not change.
-- Idempotent: the same lost id (a call retried after a lost reply) returns the first answer.
-- Returns {result, lost attempts}: result 0 not applied, 1 re-queued (status queued: the
-- caller publishes its message, or runs it), 2 ended as lost.
local rec = redis.call('HMGET', KEYS[1], 'status', 'lock_token', 'lost_id', 'lost_result',
  'lost_attempts')
if rec[3] == ARGV[4] then
  return {tonumber(rec[4]), tonumber(rec[5] or '0')}
end
if rec[1] ~= 'running' or rec[2] ~= ARGV[2] then
  return {0, 0}
end
local holder = redis.call('GET', KEYS[3])
if ARGV[8] == '1' and holder == ARGV[2] then
  return {0, 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nowf = string.format('%.6f', now)
local n = redis.call('HINCRBY', KEYS[1], 'lost_attempts', 1)
redis.call('HSET', KEYS[1], 'lost_reason', ARGV[3], 'lost_at', nowf)
redis.call('ZREM', KEYS[4], ARGV[1])
if holder == ARGV[2] then redis.call('DEL', KEYS[3]) end
redis.call('HINCRBY', KEYS[5], 'runs_lost', 1)
local sched = redis.call('EXISTS', KEYS[2]) == 1
if sched then redis.call('HINCRBY', KEYS[2], 'lost_runs', 1) end
local result
if n <= tonumber(ARGV[5]) then
  result = 1
  redis.call('HSET', KEYS[1], 'status', 'queued', 'reason', 're-queued: ' .. ARGV[3],
    'requeued_at', nowf, 'stop', 'lost')
  redis.call('HDEL', KEYS[1], 'lock_token', 'started_at')
  redis.call('ZADD', KEYS[6], ARGV[6], ARGV[1])
  redis.call('SET', KEYS[7], 'queued', 'PX', ARGV[7])
else
  result = 2
  redis.call('HSET', KEYS[1], 'status', 'lost', 'reason', ARGV[3], 'finished_at', nowf,
    'stop', 'lost')
  local started = redis.call('HGET', KEYS[1], 'started_at')
  if started then
    redis.call('HSET', KEYS[1], 'duration_s', string.format('%.6f', now - tonumber(started)))
  end
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('SET', KEYS[7], 'lost', 'PX', ARGV[7])
  if sched then
    redis.call('HINCRBY', KEYS[2], 'total_runs', 1)
    redis.call('HSET', KEYS[2], 'last_run', nowf, 'last_result', cjson.encode({
      status = 'lost', reason = ARGV[3], run_id = ARGV[1], finished_at = now}))
  end
end
redis.call('HSET', KEYS[1], 'lost_id', ARGV[4], 'lost_result', result)
return {result, n}
