-- Check (and renew) the leader's lease and term before it publishes through another broker.
-- KEYS[1] beat lease, KEYS[2] fence counter; ARGV[1] token, ARGV[2] fence, ARGV[3] ttl ms.
-- Returns 1 when the caller still leads in its term (lease renewed), 0 otherwise. Idempotent.
if redis.call('GET', KEYS[1]) ~= ARGV[1] or (redis.call('GET', KEYS[2]) or '0') ~= ARGV[2] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
