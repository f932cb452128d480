-- blacklist_check.lua: the entries among the candidate fields that have
-- not lapsed.
--
-- KEYS[1] the entries (hash)
-- ARGV[1] now ('store' = the server's TIME, else Unix µs)
-- ARGV[2..] the candidate fields
--
-- Returns {n, field 1, value 1, ..., field n, value n}.
local now = math.floor(now_us(ARGV[1]) / 1000)
local out = { 0 }
if #ARGV < 2 then
  return out
end
local values = call('HMGET', KEYS[1], unpack(ARGV, 2))
for i, value in ipairs(values) do
  if value and live(value, now) then
    out[1] = out[1] + 1
    out[#out + 1] = ARGV[i + 1]
    out[#out + 1] = value
  end
end
return out
