-- blacklist_remove.lua: removes a blacklist entry.
--
-- KEYS[1] the entries (hash)   KEYS[2] the fields in order (sorted set)
-- ARGV[1] the entry's field
--
-- Returns {1} when it was there, else {0}.
call('ZREM', KEYS[2], ARGV[1])
return { call('HDEL', KEYS[1], ARGV[1]) }
