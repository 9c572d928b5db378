-- Set fields on a run record only while it exists (a progress note of a running attempt).
-- KEYS[1] run hash; ARGV field/value pairs. A schedule deleted meanwhile took the record with
-- it: nothing is recreated. Idempotent. Returns 1 when written, 0 when the record is gone.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
