-- Publish outbox entries to a broker that is this Redis, fenced and exactly once.
-- KEYS[1] beat lease, KEYS[2] fence counter, KEYS[3] outbox hash, KEYS[4] broker queue list
-- ARGV[1] token, ARGV[2] fence, ARGV[3] lease ttl ms, then pairs (run id, broker message).
-- Fenced like claim_batch.lua (and renews the lease). A message is pushed only if its run's
-- outbox entry is still there, and the entry is removed in the same step: a call retried after
-- a lost reply, or a second leader draining the same outbox, pushes nothing twice.
-- Returns the number of messages pushed, or -1 when fenced out.
if redis.call('GET', KEYS[1]) ~= ARGV[1] or (redis.call('GET', KEYS[2]) or '0') ~= ARGV[2] then
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local messages = {}
for i = 4, #ARGV, 2 do
  if redis.call('HDEL', KEYS[3], ARGV[i]) == 1 then
    messages[#messages + 1] = ARGV[i + 1]
  end
end
for k = 1, #messages, 1000 do
  redis.call('LPUSH', KEYS[4], unpack(messages, k, math.min(k + 999, #messages)))
end
return #messages
