-- blacklist_add.lua: adds a blacklist entry, or replaces its reason and
-- expiry; forgets up to 100 entries lapsed by now.
--
-- KEYS[1] the entries (hash: field -> '<added ms>|<reason>', or
--         '<added ms>;<expires ms>|<reason>' for an entry that expires)
-- KEYS[2] the fields in order (sorted set, every score 0, read by lex)
-- KEYS[3] the expiring fields (sorted set scored by expiry, Unix ms)
-- ARGV[1] now ('store' = the server's TIME, else Unix µs)
-- ARGV[2] the entry's field   ARGV[3] the reason
-- ARGV[4] the expiry (Unix ms), or '' for none
--
-- Returns {the time added (Unix ms)}.
local added = int(math.floor(now_us(ARGV[1]) / 1000))
forget_lapsed(KEYS[1], KEYS[2], KEYS[3], added)
local head = added
if ARGV[4] ~= '' then
  head = added .. ';' .. ARGV[4]
  call('ZADD', KEYS[3], ARGV[4], ARGV[2])
else
  call('ZREM', KEYS[3], ARGV[2])
end
call('HSET', KEYS[1], ARGV[2], head .. '|' .. ARGV[3])
call('ZADD', KEYS[2], 0, ARGV[2])
return { added }
