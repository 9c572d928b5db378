-- Checks 1 and 2 of a training run, atomically: the run id, then the per-schedule run lock.
-- KEYS[1] run hash, KEYS[2] runs zset, KEYS[3] run lock, KEYS[4] schedule hash,
-- KEYS[5] control hash, KEYS[6] running zset
-- ARGV[1] run id, ARGV[2] attempt token, ARGV[3] lock ttl ms, ARGV[4] worker name,
-- ARGV[5] run history cap, ARGV[6] run key prefix, ARGV[7] schedule id, ARGV[8] tenant id,
-- ARGV[9] trigger, ARGV[10] fire time ("" when unknown)
-- Returns {code, now, detail, run fields (flat), schedule fields (flat), switch}:
--   claimed   the run is ours: lock taken, status running; detail ""
--   duplicate the run is running under a live lock elsewhere; detail = lock holder
--   stale     the run is "running" but its lock is gone: the old attempt died; detail = its token
--   done      the run already ended; detail = its status
--   locked    another run of the schedule holds the lock; detail = the holder's token
-- #include trim_history
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nowf = string.format('%.6f', now)
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
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
  if holder and holder == token then
    code, detail = 'duplicate', holder
  else
    code, detail = 'stale', token
  end
elseif status ~= 'queued' and status ~= 'deferred' then
  code, detail = 'done', status
else
  local ok = redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', tonumber(ARGV[3]))
  if not ok then
    code, detail = 'locked', (redis.call('GET', KEYS[3]) or '')
  else
    redis.call('HSET', KEYS[1], 'status', 'running', 'lock_token', ARGV[2], 'worker', ARGV[4],
      'started_at', nowf)
    redis.call('HDEL', KEYS[1], 'reason', 'next_attempt_at')
    redis.call('HINCRBY', KEYS[1], 'attempts', 1)
    redis.call('ZADD', KEYS[6], now, ARGV[1])
  end
end
return {code, nowf, detail, redis.call('HGETALL', KEYS[1]), sched, switch}
