-- release.lua: the owner releases a live seat hold.
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] sexp   KEYS[4] feed
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] token version   ARGV[5] feed MAXLEN
-- ARGV[6..] seat ids, ascending, unique
--
-- Returns {'OK', version} | {'EXPIRED'} | {'NOTOWNER'} | {'STALE', current}
--       | {'NOSHOW'}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 'NOSHOW' }
end
local now = now_ms(ARGV[1])
local owner, hold, version = ARGV[2], ARGV[3], tonumber(ARGV[4])
local first = 6

local states, maxv = read_seats(KEYS[2], first)
for _, s in ipairs(states) do
  local err = check_holder(s, owner, hold, version, now)
  if err then
    return err
  end
end
local v = maxv + 1
local enc = seat_encode({ v = v, k = 'A' })
local hpairs, ids = {}, {}
for i = first, #ARGV do
  hpairs[#hpairs + 1] = ARGV[i]
  hpairs[#hpairs + 1] = enc
  ids[#ids + 1] = ARGV[i]
end
hset_pairs(KEYS[2], hpairs)
zrem_list(KEYS[3], ids)
emit(KEYS[1], KEYS[4], ARGV[5], 'released', hold, '', 's:' .. table.concat(ids, ','), v)
return { 'OK', v }
