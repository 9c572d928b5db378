-- Trim one schedule's run history to the cap (the rule in lib/trim_history.lua): for a history
-- that grew without a worker's claim, which trims it too (runs the pending sweep ended).
-- KEYS[1] the schedule's runs zset, ARGV[1] run key prefix, ARGV[2] cap.
-- Idempotent: a second call finds nothing over the cap.
-- #include trim_history
trim_history(KEYS[1], ARGV[1], tonumber(ARGV[2]), nil)
return 1
