-- After a restore rewrote a schedule (store/transfer.py write_imported, in the same MULTI/EXEC):
-- the run it had claimed ahead of its fire time stays only if the schedule still fires then.
-- KEYS[1] schedule hash, KEYS[2] the schedule's runs zset, KEYS[3] pending zset
-- ARGV[1] now (the store's time), ARGV[2] run key prefix, ARGV[3] run tombstone key prefix,
-- ARGV[4] tombstone ttl ms, ARGV[5] the schedule's next fire ("" = paused)
-- Idempotent: a second call finds the marker gone, or the same answer.
-- #include settle_staged
local next_fire = false
if ARGV[5] ~= '' then
  next_fire = ARGV[5]
end
settle_staged(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], next_fire)
return 1
