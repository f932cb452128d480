-- blacklist_remove.lua: removes a blacklist entry.
--
-- KEYS[1] the entries (hash)   KEYS[2] the fields in order (sorted set)
-- KEYS[3] the expiring fields (sorted set by expiry)
-- ARGV[1] now ('store' = the server's TIME, else Unix µs)
-- ARGV[2] the entry's field
--
-- Returns {1} when it was there and had not lapsed, else {0}.
local now = math.floor(now_us(ARGV[1]) / 1000)
local value = call('HGET', KEYS[1], ARGV[2])
call('HDEL', KEYS[1], ARGV[2])
call('ZREM', KEYS[2], ARGV[2])
call('ZREM', KEYS[3], ARGV[2])
if value and live(value, now) then
  return { 1 }
end
return { 0 }
