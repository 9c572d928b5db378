-- Read (only) the due entries up to a score with their timing fields: the page a leader plans
-- before that score's time comes (claims prepared ahead; each claim checks what it read).
-- KEYS[1] due zset; ARGV[1] the highest score read, ARGV[2] limit, ARGV[3] schedule key prefix,
-- ARGV[4..] timing field names. Returns {id, score, timing field values..., ...}.
-- #include due_rows
return due_rows({}, KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3], 4)
