-- The one rule for a run claimed ahead of its fire time (field `staged` = "fire\trid", see
-- claim_batch.lua's "stage" mode) when its schedule is written before that time, included by
-- every script that rewrites a schedule's status or timing (update_schedule, import_settle).
-- `next_fire`: the schedule's next fire after the write (a number), `true` when the write left
-- the timing alone, `false` when the schedule no longer fires (paused, removed from due).
-- The staged run stays when the schedule still fires at its time; otherwise it is cancelled:
-- its record and index entries go, and its tombstone ("cancelled", `ttl_ms`) makes a worker
-- refuse its message, which the tick at the second still releases. A staged time that has
-- come is the tick's business: only the marker is dropped.
local function settle_staged(sched_key, runs_key, pending_key, now, run_prefix, tomb_prefix,
                             ttl_ms, next_fire)
  local staged = redis.call('HGET', sched_key, 'staged')
  if not staged then return end
  local fire, rid = string.match(staged, '^([^\t]*)\t(.*)$')
  if fire and tonumber(fire) > tonumber(now) then
    if next_fire == true or (next_fire and tonumber(next_fire) == tonumber(fire)) then
      return
    end
    if redis.call('HGET', run_prefix .. rid, 'status') == 'queued' then
      redis.call('DEL', run_prefix .. rid)
      redis.call('ZREM', runs_key, rid)
      redis.call('ZREM', pending_key, rid)
      redis.call('SET', tomb_prefix .. rid, 'cancelled', 'PX', ttl_ms)
    end
  end
  redis.call('HDEL', sched_key, 'staged')
end
