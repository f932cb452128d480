-- lock.lua: take the advisory locks of a set of seats, all or none. A lock
-- is one key per seat holding the locker's token, expiring by itself (PX).
-- The locks only shed contention: the inventory's own checks decide.
--
-- KEYS[1..n] the seats' lock keys (`lock:<seat>` of one show)
-- ARGV[1] token   ARGV[2] lock lifetime ms (>= 1)   ARGV[3..n+2] the seat ids
--
-- Returns {'OK'} | {'BUSY', {seat...}}
local busy = {}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    busy[#busy + 1] = ARGV[i + 2]
  end
end
if #busy > 0 then
  return { 'BUSY', busy }
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return { 'OK' }
