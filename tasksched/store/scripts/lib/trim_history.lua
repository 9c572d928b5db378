-- The one run-history trimming rule, included by every script that adds a run record.
-- Keeps the newest `cap` ids of `runs_key` (a sorted set by time) and deletes the run hashes
-- (`run_prefix .. id`) of the older ones, except `keep_id` (the run being written now) and any
-- run that is not final (queued, deferred, running): its record is what refuses a second
-- delivery and what the finish writes to, so it stays until it ends (the index may then hold
-- more than `cap` ids for a while). Final runs stay refused after trimming by their tombstone.
local function trim_history(runs_key, run_prefix, cap, keep_id)
  local n = redis.call('ZCARD', runs_key)
  if n <= cap then return end
  local old = redis.call('ZRANGE', runs_key, 0, n - cap - 1)
  local drop = {}
  for _, rid in ipairs(old) do
    if rid ~= keep_id then
      local st = redis.call('HGET', run_prefix .. rid, 'status')
      if st ~= 'queued' and st ~= 'deferred' and st ~= 'running' then
        redis.call('DEL', run_prefix .. rid)
        drop[#drop + 1] = rid
      end
    end
  end
  for i = 1, #drop, 1000 do
    redis.call('ZREM', runs_key, unpack(drop, i, math.min(i + 999, #drop)))
  end
end
