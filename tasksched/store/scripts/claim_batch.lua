-- Claim a batch of due entries for the leader, atomically, guarded by its lease token.
-- KEYS[1] beat lease, KEYS[2] due zset, KEYS[3] outbox hash, KEYS[4] beat health hash
-- ARGV[1] token, ARGV[2] lease ttl ms (the claim renews the lease), ARGV[3] now (string),
-- ARGV[4] run history cap, ARGV[5] schedule key prefix, ARGV[6] run key prefix,
-- ARGV[7] runs zset prefix, ARGV[8] number of entries, then per entry:
--   schedule id, score read, version read ("" = hash missing), new score ("" = drop from due),
--   tenant id, n_runs, n_missed,
--   n_runs x (run id, fire time, trigger, outbox payload),
--   n_missed x (run id, fire time, reason)
-- An entry is claimed only if its due score and its schedule's version are still what the
-- tick read (a user's update made meanwhile wins). A run record is written only if absent.
-- Returns {-1} when the lease is not ours, else {claimed, stale, missed, run id ...} with the
-- run ids newly put in the outbox.
-- #include trim_history
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {-1}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local now = ARGV[3]
local cap = tonumber(ARGV[4])
local skey, rkey, rskey = ARGV[5], ARGV[6], ARGV[7]
local claimed, stale, missed = 0, 0, 0
local out = {0, 0, 0}

local i = 9
for _ = 1, tonumber(ARGV[8]) do
  local sid, read_score, version, new_score = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local tenant, n_runs, n_missed = ARGV[i + 4], tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6])
  local body = i + 7
  i = body + 4 * n_runs + 3 * n_missed
  local score = redis.call('ZSCORE', KEYS[2], sid)
  local ok = score and tonumber(score) == tonumber(read_score)
  local sched = skey .. sid
  if ok and (redis.call('HGET', sched, 'version') or '') ~= version then ok = false end
  if not ok then
    stale = stale + 1
  else
    claimed = claimed + 1
    if new_score == '' then
      redis.call('ZREM', KEYS[2], sid)
    else
      redis.call('ZADD', KEYS[2], new_score, sid)
      redis.call('HSET', sched, 'next_run', new_score)
    end
    local runs_key = rskey .. sid
    local wrote = false
    for j = 0, n_runs - 1 do
      local p = body + 4 * j
      local rid = ARGV[p]
      local run = rkey .. rid
      if redis.call('EXISTS', run) == 0 then
        redis.call('HSET', run, 'run_id', rid, 'schedule_id', sid, 'tenant_id', tenant,
          'status', 'queued', 'trigger', ARGV[p + 2], 'fire_time', ARGV[p + 1],
          'queued_at', now)
        redis.call('ZADD', runs_key, ARGV[p + 1], rid)
        redis.call('HSET', KEYS[3], rid, ARGV[p + 3])
        out[#out + 1] = rid
        wrote = true
      end
    end
    local mbase = body + 4 * n_runs
    for j = 0, n_missed - 1 do
      local p = mbase + 3 * j
      local rid = ARGV[p]
      local run = rkey .. rid
      if redis.call('EXISTS', run) == 0 then
        redis.call('HSET', run, 'run_id', rid, 'schedule_id', sid, 'tenant_id', tenant,
          'status', 'missed', 'trigger', 'cron', 'fire_time', ARGV[p + 1],
          'reason', ARGV[p + 2], 'finished_at', now)
        redis.call('ZADD', runs_key, ARGV[p + 1], rid)
        missed = missed + 1
        wrote = true
      end
    end
    if wrote then trim_history(runs_key, rkey, cap, nil) end
  end
end
local dispatched = #out - 3
if dispatched > 0 then redis.call('HINCRBY', KEYS[4], 'dispatched_total', dispatched) end
if missed > 0 then redis.call('HINCRBY', KEYS[4], 'missed_total', missed) end
out[1], out[2], out[3] = claimed, stale, missed
return out
