-- The one run-history trimming rule, included by every script that adds a run record.
-- Keeps the newest `cap` ids of `runs_key` (a sorted set by time) and deletes the run hashes
-- (`run_prefix .. id`) of the ids it drops, except `keep_id` (the run being written now).
local function trim_history(runs_key, run_prefix, cap, keep_id)
  local n = redis.call('ZCARD', runs_key)
  if n <= cap then return end
  local old = redis.call('ZRANGE', runs_key, 0, n - cap - 1)
  for _, rid in ipairs(old) do
    if rid ~= keep_id then redis.call('DEL', run_prefix .. rid) end
  end
  redis.call('ZREMRANGEBYRANK', runs_key, 0, n - cap - 1)
end
