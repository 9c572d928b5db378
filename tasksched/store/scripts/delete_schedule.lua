-- Delete a schedule and everything it left in Redis, atomically (run tombstones aside).
-- KEYS[1] schedule hash, KEYS[2] runs zset, KEYS[3] run lock, KEYS[4] due zset,
-- KEYS[5] outbox hash, KEYS[6] running zset, KEYS[7] pending zset, KEYS[8] the schedule's tombstone,
-- KEYS[9] the schedule's history list (operator actions)
-- ARGV[1] schedule id, ARGV[2] run key prefix, ARGV[3] tenant set prefix, ARGV[4] call id,
-- ARGV[5] tombstone ttl ms (long enough to answer a retry)
-- Removes the hash, its due entry, its tenant membership, its run lock, every run record with
-- its outbox, running and pending entries. A worker still training one of its runs loses its
-- lock (it stops) and its finish writes nothing; a late message records nothing (run_claim.lua
-- answers "gone"). Run tombstones stay: a redelivered message is still refused.
-- Idempotent: the same call id (a call retried after a lost reply) answers 1 again.
-- Returns 1 when deleted, 0 when there was no such schedule.
local tenant = redis.call('HGET', KEYS[1], 'tenant_id')
if not tenant then
  if redis.call('GET', KEYS[8]) == ARGV[4] then return 1 end
  return 0
end
local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
for k = 1, #ids, 1000 do
  local chunk = {unpack(ids, k, math.min(k + 999, #ids))}
  local runs = {}
  for j, rid in ipairs(chunk) do runs[j] = ARGV[2] .. rid end
  redis.call('DEL', unpack(runs))
  redis.call('HDEL', KEYS[5], unpack(chunk))
  redis.call('ZREM', KEYS[6], unpack(chunk))
  redis.call('ZREM', KEYS[7], unpack(chunk))
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[9])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SREM', ARGV[3] .. tenant, ARGV[1])
redis.call('SET', KEYS[8], ARGV[4], 'PX', ARGV[5])
return 1
