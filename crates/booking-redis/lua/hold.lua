-- hold.lua: hold named seats for one owner, all or none.
--
-- KEYS[1] meta    KEYS[2] seats   KEYS[3] sexp (seat expiries)
-- KEYS[4] own:<owner> (the owner's index)   KEYS[5] pholds   KEYS[6] feed
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] ttl ms   ARGV[5] max hold lifetime ms
-- ARGV[6] per-owner limit (-1 = none)   ARGV[7] feed MAXLEN
-- ARGV[8] owner index lifetime ms (0 = no expiry)
-- ARGV[9..] seat ids, ascending, unique, within the show
--
-- Returns {'OK', version, until} | {'LIMIT', would_hold, max}
--       | {'TAKEN', {seat...}} | {'NOSHOW'}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 'NOSHOW' }
end
local now = now_ms(ARGV[1])
local owner, hold = ARGV[2], ARGV[3]
local ttl, maxhold, maxown = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local first = 9
local n = #ARGV - first + 1

local live
if maxown >= 0 then
  local held
  held, live = owner_held(KEYS[4], KEYS[2], KEYS[5], owner, now)
  if held + n > maxown then
    return { 'LIMIT', held + n, maxown }
  end
end

local states, maxv = read_seats(KEYS[2], first)
local taken = {}
for i, s in ipairs(states) do
  if not seat_free(s, now) then
    taken[#taken + 1] = ARGV[first + i - 1]
  end
end
if #taken > 0 then
  return { 'TAKEN', taken }
end

local v = maxv + 1
local untl = now + ttl
local enc = seat_encode({ v = v, k = 'H', owner = owner, hold = hold, untl = untl, deadline = now + maxhold, renewals = 0 })
local hpairs, zpairs, ids = {}, {}, {}
for i = first, #ARGV do
  hpairs[#hpairs + 1] = ARGV[i]
  hpairs[#hpairs + 1] = enc
  zpairs[#zpairs + 1] = int(untl)
  zpairs[#zpairs + 1] = ARGV[i]
  ids[#ids + 1] = ARGV[i]
end
hset_pairs(KEYS[2], hpairs)
zadd_pairs(KEYS[3], zpairs)
if maxown >= 0 then
  owner_save(KEYS[4], live, 's' .. hold .. ':' .. table.concat(ids, ','), tonumber(ARGV[8]))
end
emit(KEYS[1], KEYS[6], ARGV[7], 'held', hold, '', 's:' .. table.concat(ids, ','), v)
return { 'OK', v, untl }
