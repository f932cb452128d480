-- blacklist_add.lua: adds a blacklist entry, or replaces its reason.
--
-- KEYS[1] the entries (hash: field -> '<added at, Unix ms>|<reason>')
-- KEYS[2] the fields in order (sorted set, every score 0, read by lex)
-- ARGV[1] now ('store' = the server's TIME, else Unix µs)
-- ARGV[2] the entry's field   ARGV[3] the reason
--
-- Returns {the time added (Unix ms)}.
local added = int(math.floor(now_us(ARGV[1]) / 1000))
call('HSET', KEYS[1], ARGV[2], added .. '|' .. ARGV[3])
call('ZADD', KEYS[2], 0, ARGV[2])
return { added }
