-- One beat tick's reads and leadership in one round trip.
-- KEYS[1] beat lease, KEYS[2] fence counter, KEYS[3] control hash, KEYS[4] due zset,
-- KEYS[5] beat health hash, KEYS[6] staged seconds zset, KEYS[7] the broker's queue list.
-- ARGV[1] token, ARGV[2] lease ttl ms, ARGV[3] due limit, ARGV[4] now override ("" = TIME),
-- ARGV[5] beat id, ARGV[6] lease seconds (for display), ARGV[7] seconds after which a silent
-- beat process is forgotten, ARGV[8] schedule key prefix, ARGV[9] staged list key prefix,
-- ARGV[10] "1" to release staged seconds (the broker is this Redis), ARGV[11..] timing fields.
-- The leader, with the switch on, first moves the staged lists (claim_batch.lua's "stage"
-- mode) of every staged second that has come to the broker's queue: a RENAME when the queue is
-- empty, else one RPOPLPUSH per message (oldest first, as kombu's consumers pop the tail).
-- Safe to repeat: what was moved is no longer staged.
-- Returns {leader 0/1, new_term 0/1, fence, now, enabled 0/1, head score or "", holder,
--          released, staged head or "", entries at the head score (when it is to come and
--          ARGV[10] is "1", else 0),
--          due id, due score, timing field values..., ...}. Due entries (read with their
-- schedules' timing fields) only for the leader with the switch on and something due.
-- #include due_rows
local now
if ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local now_s = string.format('%.6f', now)
local holder = redis.call('GET', KEYS[1])
local leader, new_term = 0, 0
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  leader = 1
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('INCR', KEYS[2])
  leader, new_term, holder = 1, 1, ARGV[1]
end
local fence = redis.call('GET', KEYS[2]) or '0'
redis.call('HSET', KEYS[5], 'seen:' .. ARGV[5], now_s)
if leader == 0 then
  return {0, 0, fence, now_s, 0, '', holder, 0, '', 0}
end
local enabled = 1
if redis.call('HGET', KEYS[3], 'enabled') == '0' then enabled = 0 end
local stale = tonumber(ARGV[7])
local h = redis.call('HGETALL', KEYS[5])
local beats = 0
for i = 1, #h, 2 do
  if string.sub(h[i], 1, 5) == 'seen:' then
    if now - tonumber(h[i + 1]) > stale then
      redis.call('HDEL', KEYS[5], h[i])
    else
      beats = beats + 1
    end
  end
end
local released = 0
local staged = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
if enabled == 1 and ARGV[10] == '1' and staged[2] and tonumber(staged[2]) <= now then
  local ready = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now_s, 'LIMIT', 0, 16)
  for _, second in ipairs(ready) do
    local list = ARGV[9] .. second
    local n = redis.call('LLEN', list)
    if n > 0 and redis.call('EXISTS', KEYS[7]) == 0 then
      redis.call('RENAME', list, KEYS[7])
    else
      for _ = 1, n do redis.call('RPOPLPUSH', list, KEYS[7]) end
    end
    released = released + n
    redis.call('ZREM', KEYS[6], second)
  end
  staged = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
end
local staged_head = staged[2] or ''
local head = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local head_score = head[2] or ''
local lag = 0
if head_score ~= '' and enabled == 1 then
  lag = math.max(0, now - tonumber(head_score))
end
redis.call('HSET', KEYS[5], 'leader', ARGV[1], 'leader_id', ARGV[5], 'fence', fence,
  'last_tick', now_s, 'lease_s', ARGV[6], 'lag_s', string.format('%.6f', lag),
  'enabled', enabled, 'beats', beats)
local head_count = 0
-- (Counted only for a leader that can claim ahead: its broker is this Redis.)
if ARGV[10] == '1' and head_score ~= '' and tonumber(head_score) > now then
  head_count = redis.call('ZCOUNT', KEYS[4], head_score, head_score)
end
local out = {1, new_term, fence, now_s, enabled, head_score, holder, released, staged_head,
  head_count}
if enabled == 1 and tonumber(ARGV[3]) > 0 and head_score ~= '' and tonumber(head_score) <= now then
  due_rows(out, KEYS[4], now_s, tonumber(ARGV[3]), ARGV[8], 11)
end
return out
