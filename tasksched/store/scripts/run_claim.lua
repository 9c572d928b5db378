-- Checks 1 and 2 of a training run, atomically: the run id, then the per-schedule run lock.
-- KEYS[1] run hash, KEYS[2] runs zset, KEYS[3] run lock, KEYS[4] schedule hash,
-- KEYS[5] control hash, KEYS[6] running zset, KEYS[7] pending zset, KEYS[8] run tombstone,
-- KEYS[9] metrics hash
-- ARGV[1] run id, ARGV[2] attempt token, ARGV[3] lock ttl ms, ARGV[4] worker name,
-- ARGV[5] run history cap, ARGV[6] run key prefix, ARGV[7] schedule id, ARGV[8] tenant id,
-- ARGV[9] trigger, ARGV[10] fire time ("" when unknown), ARGV[11] tombstone ttl ms,
-- ARGV[12] default misfire grace s, ARGV[13] staleness margin s
-- Returns {code, now, detail, run fields (flat), schedule fields (flat), switch}:
--   claimed   the run is ours: lock taken, status running; detail "". The same attempt token
--             asking again (a call retried after a lost reply) is answered "claimed" again.
--   duplicate the run is running under a live lock elsewhere; detail = lock holder
--   stale     the run is "running" but its lock is gone: the old attempt died; detail = its token
--   done      the run already ended (its record, or its tombstone once the record was
--             trimmed); detail = its status
--   gone      no record, no tombstone and no schedule: a late message of a deleted schedule;
--             nothing is written
--   expired   a cron or catch-up run received later than its misfire grace plus the margin
--             (counted from its fire time, or from when it was queued for a catch-up or a
--             re-run): recorded missed with the reason, never trained; detail = the reason
--   locked    another run of the schedule holds the lock; detail = the holder's token
-- #include trim_history
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nowf = string.format('%.6f', now)
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  local tomb = redis.call('GET', KEYS[8])
  if tomb then
    redis.call('PEXPIRE', KEYS[8], ARGV[11])
    return {'done', nowf, tomb, {}, {}, ''}
  end
  if redis.call('EXISTS', KEYS[4]) == 0 then
    return {'gone', nowf, '', {}, {}, ''}
  end
  -- An old message whose record is gone (or never written): create it queued.
  local score = now
  redis.call('HSET', KEYS[1], 'run_id', ARGV[1], 'schedule_id', ARGV[7], 'tenant_id', ARGV[8],
    'status', 'queued', 'trigger', ARGV[9], 'queued_at', nowf)
  if ARGV[10] ~= '' then
    redis.call('HSET', KEYS[1], 'fire_time', ARGV[10])
    score = tonumber(ARGV[10])
  end
  redis.call('ZADD', KEYS[2], score, ARGV[1])
  trim_history(KEYS[2], ARGV[6], tonumber(ARGV[5]), ARGV[1])
  status = 'queued'
end
local sched = redis.call('HGETALL', KEYS[4])
local switch = redis.call('HGET', KEYS[5], 'enabled') or ''
local code, detail = 'claimed', ''
if status == 'running' then
  local holder = redis.call('GET', KEYS[3])
  local token = redis.call('HGET', KEYS[1], 'lock_token') or ''
  if token == ARGV[2] then
    code = 'claimed'
  elseif holder and holder == token then
    code, detail = 'duplicate', holder
  else
    code, detail = 'stale', token
  end
elseif status ~= 'queued' and status ~= 'deferred' then
  code, detail = 'done', status
else
  local run = redis.call('HMGET', KEYS[1], 'trigger', 'fire_time', 'queued_at', 'requeued_at')
  local origin = nil
  if run[4] then
    origin = tonumber(run[4])
  elseif run[1] == 'catchup' then
    origin = tonumber(run[3])
  elseif run[1] == 'cron' then
    origin = tonumber(run[2])
  end
  local grace = tonumber(ARGV[12])
  local misfire = redis.call('HGET', KEYS[4], 'misfire') or ''
  local g = string.match(misfire, ':([%d%.]+)$')
  if g then grace = tonumber(g) end
  if origin and now > origin + grace + tonumber(ARGV[13]) then
    detail = string.format('expired: received %.0fs after its %s, over its %.0fs misfire grace + '
      .. '%.0fs margin; not trained', now - origin,
      run[4] and 're-queue' or (run[1] == 'catchup' and 'catch-up dispatch' or 'fire time'),
      grace, tonumber(ARGV[13]))
    redis.call('HSET', KEYS[1], 'status', 'missed', 'reason', detail, 'finished_at', nowf,
      'decided_by', 'staleness')
    redis.call('HDEL', KEYS[1], 'next_attempt_at')
    redis.call('ZREM', KEYS[7], ARGV[1])
    redis.call('SET', KEYS[8], 'missed', 'PX', ARGV[11])
    redis.call('HINCRBY', KEYS[9], 'runs_missed', 1)
    return {'expired', nowf, detail, redis.call('HGETALL', KEYS[1]), sched, switch}
  end
  local ok = redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', tonumber(ARGV[3]))
  if not ok then
    code, detail = 'locked', (redis.call('GET', KEYS[3]) or '')
  else
    redis.call('HSET', KEYS[1], 'status', 'running', 'lock_token', ARGV[2], 'worker', ARGV[4],
      'started_at', nowf)
    redis.call('HDEL', KEYS[1], 'reason', 'next_attempt_at')
    redis.call('HINCRBY', KEYS[1], 'attempts', 1)
    redis.call('ZADD', KEYS[6], now, ARGV[1])
    redis.call('ZREM', KEYS[7], ARGV[1])
    redis.call('SET', KEYS[8], 'running', 'PX', ARGV[11])
  end
end
return {code, nowf, detail, redis.call('HGETALL', KEYS[1]), sched, switch}
