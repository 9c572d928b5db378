-- Write a run record and index it under its schedule, trimming the oldest beyond the cap.
-- KEYS[1] run hash, KEYS[2] runs zset of the schedule, KEYS[3] pending zset
-- ARGV[1] run id, ARGV[2] score (epoch seconds), ARGV[3] cap, ARGV[4] run key prefix,
-- ARGV[5] "nx" to refuse when the run exists, ARGV[6] pending deadline ("" = not pending:
-- for a queued run, when the pending sweep ends it if no worker took it), ARGV[7..]
-- field/value pairs.
-- Idempotent: the same call again writes the same fields (with "nx" it changes nothing).
-- Returns 1 when written, 0 when ARGV[5] == "nx" and it existed.
-- #include trim_history
if ARGV[5] == 'nx' and redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local fields = {}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then
  redis.call('HSET', KEYS[1], unpack(fields))
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1]) end
trim_history(KEYS[2], ARGV[4], tonumber(ARGV[3]), ARGV[1])
return 1
