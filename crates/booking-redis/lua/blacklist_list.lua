-- blacklist_list.lua: up to a page of entries that have not lapsed, in
-- field order.
--
-- KEYS[1] the entries (hash)   KEYS[2] the fields in order (sorted set)
-- ARGV[1] now ('store' = the server's TIME, else Unix µs)
-- ARGV[2] where to start: '-' for the first field, '(<field>' after one
-- ARGV[3] the most entries to return (at least 1)
--
-- Returns {n, field 1, value 1, ..., field n, value n}.
local now = math.floor(now_us(ARGV[1]) / 1000)
local limit = tonumber(ARGV[3])
local chunk = math.max(limit, 100)
local from = ARGV[2]
local out = { 0 }
while out[1] < limit do
  local fields = call('ZRANGEBYLEX', KEYS[2], from, '+', 'LIMIT', 0, chunk)
  for _, field in ipairs(fields) do
    local value = call('HGET', KEYS[1], field)
    if value and live(value, now) then
      out[1] = out[1] + 1
      out[#out + 1] = field
      out[#out + 1] = value
      if out[1] == limit then
        return out
      end
    end
  end
  if #fields < chunk then
    break
  end
  from = '(' .. fields[#fields]
end
return out
