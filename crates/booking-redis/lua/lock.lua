-- lock.lua: take the advisory locks of a set of seats, all or none. A lock
-- is one key per seat holding "<token>|<until>". The locks only shed
-- contention: the inventory's own checks decide.
--
-- Expiry is decided by the lock's time source (docs/design.md, I8): with
-- 'store' the key expires by itself (PX, the Redis server's clock; until
-- is written 'store'); with an injected clock's Unix ms, this script
-- decides against that time, and a lock whose until has passed is free
-- (the key is then kept until it is taken over or released).
--
-- KEYS[1..n] the seats' lock keys (`lock:<seat>` of one show)
-- ARGV[1] token   ARGV[2] lock lifetime ms (>= 1)
-- ARGV[3] now ('store' = the server's clock, else Unix ms)
-- ARGV[4..n+3] the seat ids
--
-- Returns {'OK'} | {'BUSY', {seat...}}
local store = ARGV[3] == 'store'
local now = 0
if not store then
  now = tonumber(ARGV[3])
  if not now then
    error('booking: the time argument is neither store nor Unix ms: ' .. tostring(ARGV[3]))
  end
end
local busy = {}
for i = 1, #KEYS do
  local held = redis.call('GET', KEYS[i])
  if held then
    local untl = tonumber(string.sub(held, string.find(held, '|', 1, true) + 1))
    -- A lock written under the store's clock has no until: it lives while
    -- its key does.
    if store or not untl or untl > now then
      busy[#busy + 1] = ARGV[i + 3]
    end
  end
end
if #busy > 0 then
  return { 'BUSY', busy }
end
for i = 1, #KEYS do
  if store then
    redis.call('SET', KEYS[i], ARGV[1] .. '|store', 'PX', ARGV[2])
  else
    redis.call('SET', KEYS[i], ARGV[1] .. '|' .. string.format('%d', now + tonumber(ARGV[2])))
  end
end
return { 'OK' }
