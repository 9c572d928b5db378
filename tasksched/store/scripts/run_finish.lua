-- End a run with its outcome and update the schedule's counters, atomically.
-- KEYS[1] run hash, KEYS[2] schedule hash, KEYS[3] run lock, KEYS[4] running zset,
-- KEYS[5] metrics hash, KEYS[6] pending zset, KEYS[7] run tombstone
-- ARGV[1] run id, ARGV[2] attempt token ("" for a run that never took the lock),
-- ARGV[3] status (succeeded|rejected|failed|skipped|missed|interrupted; lost: run_lost.lua),
-- ARGV[4] max consecutive failures, ARGV[5] cooldown seconds, ARGV[6] reason,
-- ARGV[7] finish id (unique per call), ARGV[8] tombstone ttl ms, ARGV[9..] field/value pairs.
-- Applies only when the run is still this attempt's: with a token, status running and the
-- same lock_token; without one, status queued or deferred. Only failed runs are failures
-- (consecutive failures, cooldown); an interrupted run is counted apart, rejected and
-- skipped are not failures; succeeded resets the consecutive failures; missed touches no
-- schedule counter. The tombstone keeps the final status after the record is trimmed.
-- Idempotent: the same finish id (a call retried after a lost reply) returns what the first
-- call did and changes nothing.
-- Returns {applied (0/1), cooldown entered (0/1), consecutive failures, now}.
local status = redis.call('HGET', KEYS[1], 'status')
local done = redis.call('HMGET', KEYS[1], 'finish_id', 'cooldown_entered', 'finished_at')
if done[1] == ARGV[7] then
  local failures = redis.call('HGET', KEYS[2], 'consecutive_failures') or '0'
  return {1, tonumber(done[2] or '0'), tonumber(failures), done[3] or ''}
end
if ARGV[2] ~= '' then
  if status ~= 'running' or redis.call('HGET', KEYS[1], 'lock_token') ~= ARGV[2] then
    return {0, 0, 0, ''}
  end
elseif status ~= 'queued' and status ~= 'deferred' then
  return {0, 0, 0, ''}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nowf = string.format('%.6f', now)
local outcome = ARGV[3]
redis.call('HSET', KEYS[1], 'status', outcome, 'reason', ARGV[6], 'finished_at', nowf,
  'finish_id', ARGV[7])
redis.call('HDEL', KEYS[1], 'next_attempt_at')
local started = redis.call('HGET', KEYS[1], 'started_at')
if started and ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'duration_s', string.format('%.6f', now - tonumber(started)))
end
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('SET', KEYS[7], outcome, 'PX', ARGV[8])
if ARGV[2] ~= '' and redis.call('GET', KEYS[3]) == ARGV[2] then
  redis.call('DEL', KEYS[3])
end
redis.call('HINCRBY', KEYS[5], 'runs_' .. outcome, 1)
if outcome == 'missed' or redis.call('EXISTS', KEYS[2]) == 0 then
  return {1, 0, 0, nowf}
end
local entered = 0
local failures = tonumber(redis.call('HGET', KEYS[2], 'consecutive_failures') or '0')
redis.call('HINCRBY', KEYS[2], 'total_runs', 1)
if outcome == 'succeeded' then
  redis.call('HINCRBY', KEYS[2], 'successful_runs', 1)
  redis.call('HSET', KEYS[2], 'consecutive_failures', 0)
  redis.call('HDEL', KEYS[2], 'cooldown_until')
  failures = 0
elseif outcome == 'rejected' then
  redis.call('HINCRBY', KEYS[2], 'rejected_runs', 1)
elseif outcome == 'failed' then
  redis.call('HINCRBY', KEYS[2], 'failed_runs', 1)
  failures = redis.call('HINCRBY', KEYS[2], 'consecutive_failures', 1)
  redis.call('HSET', KEYS[2], 'last_failure_at', nowf)
  if failures >= tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[2], 'cooldown_until',
      string.format('%.6f', now + tonumber(ARGV[5])))
    entered = 1
    redis.call('HSET', KEYS[1], 'cooldown_entered', 1)
  end
elseif outcome == 'skipped' then
  redis.call('HINCRBY', KEYS[2], 'skipped_runs', 1)
elseif outcome == 'interrupted' then
  redis.call('HINCRBY', KEYS[2], 'interrupted_runs', 1)
end
redis.call('HSET', KEYS[2], 'last_run', nowf, 'last_result', cjson.encode({
  status = outcome, reason = ARGV[6], run_id = ARGV[1], finished_at = now}))
return {1, entered, failures, nowf}
