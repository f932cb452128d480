-- rate_purge.lua: deletes a key whose burst is full again (TAT <= now).
--
-- KEYS[1] the key's TAT
-- ARGV[1] now ('store' = the server's TIME, else Unix µs)
--
-- Returns {1} when deleted, else {0}.
local stored = call('GET', KEYS[1])
if stored and tonumber(stored) and tonumber(stored) <= now_us(ARGV[1]) then
  return { call('DEL', KEYS[1]) }
end
return { 0 }
