-- Claim a batch of due entries for the leader, atomically, fenced by its lease; optionally read
-- the next due entries (the read-ahead) in the same call.
-- KEYS[1] beat lease, KEYS[2] fence counter, KEYS[3] due zset, KEYS[4] outbox hash,
-- KEYS[5] beat health hash, KEYS[6] last claim hash, KEYS[7] pending zset,
-- KEYS[8] the broker's queue list ("push" mode) or the second's staged list ("stage" mode),
-- KEYS[9] the staged seconds zset ("stage" mode)
-- ARGV[1] token, ARGV[2] fence, ARGV[3] lease ttl ms (the claim renews the lease),
-- ARGV[4] now (string), ARGV[5] run history cap, ARGV[6] schedule key prefix,
-- ARGV[7] run key prefix, ARGV[8] runs zset prefix, ARGV[9] claim id,
-- ARGV[10] mode: "push" (each run's item is its broker message, pushed to KEYS[8] here) or
-- "outbox" (each run's item is its outbox payload; beat publishes it afterwards) or "stage"
-- (as "push", but to the list of a due second still to come, which leader_tick.lua moves to the
-- broker's queue when that second comes; ARGV[4] is that second; each schedule records its
-- staged run in its hash field `staged`, "fire time<TAB>run id", for update_schedule.lua),
-- ARGV[11] number of entries,
-- ARGV[12] read-ahead: "" (none) or "limit<TAB>member<TAB>its score as read": up to limit due
--   entries (score <= now) that come after that member in the due index, read before the claim,
--   ARGV[13] the timing field names (tab-separated) returned with each entry read ahead,
-- then per entry one argument of tab-separated fields
--   "schedule id, score read, version read ('' = hash missing), new score ('' = drop from due),
--    tenant id, n_runs, n_missed", then
--   n_runs x (an argument "run id, fire time, trigger, pending deadline", then its item),
--   n_missed x an argument "run id, fire time, reason"
-- Fenced: nothing is written unless the lease holds the caller's token and the fence counter
-- is the caller's term. An entry is claimed only if its due score and its schedule's version
-- are still what the tick read (a user's update made meanwhile wins). A run record is written
-- only if absent; each one written is indexed as pending until a worker takes it.
-- Idempotent: the result is kept under the claim id (the last two claims'); the same claim id (a
-- call retried after a lost reply) gets the same answer and writes nothing twice (the read-ahead
-- is read again).
-- Returns {-1} when fenced out, else {claimed, stale, missed, n, run id x n, read, entry ...}:
-- the n run ids newly claimed (in push mode already in the broker), read = 1 when the
-- read-ahead was done (0: not asked, or its member moved meanwhile: the next tick reads), then
-- per entry read ahead its id, its score and its timing fields.
-- #include trim_history
if redis.call('GET', KEYS[1]) ~= ARGV[1] or (redis.call('GET', KEYS[2]) or '0') ~= ARGV[2] then
  return {-1}
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local now = ARGV[4]

-- The read-ahead first: the member it starts after may be one this call claims.
local ahead = {0}
if ARGV[12] ~= '' then
  local limit, after, after_score = string.match(ARGV[12], '^([^\t]*)\t([^\t]*)\t(.*)$')
  local score = redis.call('ZSCORE', KEYS[3], after)
  if score and tonumber(score) == tonumber(after_score) then
    local fields = {}
    for f in string.gmatch(ARGV[13], '[^\t]+') do fields[#fields + 1] = f end
    local rank = redis.call('ZRANK', KEYS[3], after)
    local rows = redis.call('ZRANGE', KEYS[3], rank + 1, rank + tonumber(limit), 'WITHSCORES')
    local nowv = tonumber(now)
    ahead[1] = 1
    for i = 1, #rows, 2 do
      if tonumber(rows[i + 1]) > nowv then break end
      ahead[#ahead + 1] = rows[i]
      ahead[#ahead + 1] = rows[i + 1]
      local row = redis.call('HMGET', ARGV[6] .. rows[i], unpack(fields))
      for j = 1, #fields do ahead[#ahead + 1] = row[j] end
    end
  end
end
local function answer(result)
  for i = 1, #ahead do result[#result + 1] = ahead[i] end
  return result
end

-- The last two claims' answers are kept (the beat has up to two claims in flight).
local last = redis.call('HMGET', KEYS[6], 'id', 'result', 'id2', 'result2')
if last[1] == ARGV[9] and last[2] then
  return answer(cjson.decode(last[2]))
end
if last[3] == ARGV[9] and last[4] then
  return answer(cjson.decode(last[4]))
end
local cap = tonumber(ARGV[5])
local skey, rkey, rskey = ARGV[6], ARGV[7], ARGV[8]
local stage = ARGV[10] == 'stage'
local push = ARGV[10] == 'push' or stage
local claimed, stale, missed = 0, 0, 0
local ids = {}
local messages = {}

local ENTRY = '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$'
local RUN = '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$'
local MISSED = '^([^\t]*)\t([^\t]*)\t(.*)$'
local pending, advance, gone = {}, {}, {}
local i = 14
for _ = 1, tonumber(ARGV[11]) do
  local sid, read_score, version, new_score, tenant, n_runs, n_missed =
    string.match(ARGV[i], ENTRY)
  n_runs, n_missed = tonumber(n_runs), tonumber(n_missed)
  local body = i + 1
  i = body + 2 * n_runs + n_missed
  local score = redis.call('ZSCORE', KEYS[3], sid)
  local ok = score and tonumber(score) == tonumber(read_score)
  local sched = skey .. sid
  if ok and (redis.call('HGET', sched, 'version') or '') ~= version then ok = false end
  if not ok then
    stale = stale + 1
  else
    claimed = claimed + 1
    if new_score == '' then
      gone[#gone + 1] = sid
    else
      advance[#advance + 1] = new_score
      advance[#advance + 1] = sid
      redis.call('HSET', sched, 'next_run', new_score)
    end
    local runs_key = rskey .. sid
    local wrote_missed = false
    local staged = nil
    for j = 0, n_runs - 1 do
      local p = body + 2 * j
      local rid, fire, trigger, deadline = string.match(ARGV[p], RUN)
      local run = rkey .. rid
      if redis.call('EXISTS', run) == 0 then
        redis.call('HSET', run, 'run_id', rid, 'schedule_id', sid, 'tenant_id', tenant,
          'status', 'queued', 'trigger', trigger, 'fire_time', fire, 'queued_at', now)
        redis.call('ZADD', runs_key, fire, rid)
        pending[#pending + 1] = deadline
        pending[#pending + 1] = rid
        if push then
          messages[#messages + 1] = ARGV[p + 1]
          if stage then staged = fire .. '\t' .. rid end
        else
          redis.call('HSET', KEYS[4], rid, ARGV[p + 1])
        end
        ids[#ids + 1] = rid
      end
    end
    if staged then redis.call('HSET', sched, 'staged', staged) end
    local mbase = body + 2 * n_runs
    for j = 0, n_missed - 1 do
      local rid, fire, reason = string.match(ARGV[mbase + j], MISSED)
      local run = rkey .. rid
      if redis.call('EXISTS', run) == 0 then
        redis.call('HSET', run, 'run_id', rid, 'schedule_id', sid, 'tenant_id', tenant,
          'status', 'missed', 'trigger', 'cron', 'fire_time', fire,
          'reason', reason, 'finished_at', now)
        redis.call('ZADD', runs_key, fire, rid)
        missed = missed + 1
        wrote_missed = true
      end
    end
    -- A queued run's record is trimmed by the worker's claim of it (run_claim.lua), which
    -- trims the same history: checking here too cost a command per run in a burst. Missed
    -- records end here, so the history they grow is trimmed here.
    if wrote_missed then trim_history(runs_key, rkey, cap, nil) end
  end
end
-- The due scores move in one ZADD per 500 entries (each entry's score was compared above,
-- inside this same script).
for k = 1, #advance, 1000 do
  redis.call('ZADD', KEYS[3], unpack(advance, k, math.min(k + 999, #advance)))
end
for k = 1, #gone, 1000 do
  redis.call('ZREM', KEYS[3], unpack(gone, k, math.min(k + 999, #gone)))
end
-- Each run written is pending until a worker takes it (one ZADD per 500 runs).
for k = 1, #pending, 1000 do
  redis.call('ZADD', KEYS[7], unpack(pending, k, math.min(k + 999, #pending)))
end
-- kombu's Redis transport: LPUSH, consumers pop the tail (the first pushed is the first out).
for k = 1, #messages, 1000 do
  redis.call('LPUSH', KEYS[8], unpack(messages, k, math.min(k + 999, #messages)))
end
if stage and #messages > 0 then redis.call('ZADD', KEYS[9], now, now) end
if #ids > 0 then redis.call('HINCRBY', KEYS[5], 'dispatched_total', #ids) end
if missed > 0 then redis.call('HINCRBY', KEYS[5], 'missed_total', missed) end
local out = {claimed, stale, missed, #ids}
for k = 1, #ids do out[k + 4] = ids[k] end
redis.call('HSET', KEYS[6], 'id', ARGV[9], 'result', cjson.encode(out), 'id2', last[1] or '',
  'result2', last[2] or '')
return answer(out)
