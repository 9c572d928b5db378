-- The one due read, included by the scripts that read due entries for planning: appends to
-- `out` up to `limit` entries of the due zset with a score <= `max_score` (a string), each as its
-- id, its score and its schedule's timing fields (ARGV[first_field..], a missing one as nil).
local function due_rows(out, due_key, max_score, limit, schedule_prefix, first_field)
  local due = redis.call('ZRANGEBYSCORE', due_key, '-inf', max_score, 'WITHSCORES', 'LIMIT', 0, limit)
  local last = #ARGV
  for i = 1, #due, 2 do
    out[#out + 1] = due[i]
    out[#out + 1] = due[i + 1]
    local row = redis.call('HMGET', schedule_prefix .. due[i], unpack(ARGV, first_field, last))
    for j = 1, last - first_field + 1 do out[#out + 1] = row[j] end
  end
  return out
end
