-- extend.lua: extend a live seat hold by the show's TTL, capped at the
-- hold's deadline; the hold's seats take a new version.
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] sexp   KEYS[4] feed   KEYS[5] free
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] token version   ARGV[5] ttl ms   ARGV[6] max renewals
-- ARGV[7] feed MAXLEN   ARGV[8..] seat ids, ascending, unique
--
-- Returns {'OK', version, until, renewals} | {'EXPIRED'} | {'NOTOWNER'}
--       | {'STALE', current} | {'RENEWALS'} | {'LIFETIME'} | {'NOSHOW'} | {'LOST'}
local refused, fc = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
local owner, hold, version = ARGV[2], ARGV[3], tonumber(ARGV[4])
local ttl, maxr = tonumber(ARGV[5]), tonumber(ARGV[6])
local first = 8
local ids, items = seat_list(first)

local states, maxv = read_seats(KEYS[2], ids)
local untl, renewals = 0, 0
for _, s in ipairs(states) do
  local err = check_holder(s, owner, hold, version, #ids, now)
  if err then
    return err
  end
  if s.renewals >= maxr then
    return { 'RENEWALS' }
  end
  if s.untl >= s.deadline then
    return { 'LIFETIME' }
  end
  untl = math.min(now + ttl, s.deadline)
  renewals = s.renewals + 1
end

local v = maxv + 1
local hpairs, zpairs = {}, {}
for i, s in ipairs(states) do
  s.v = v
  s.untl = untl
  s.renewals = renewals
  hpairs[#hpairs + 1] = ARGV[first + i - 1]
  hpairs[#hpairs + 1] = seat_encode(s)
  zpairs[#zpairs + 1] = int(untl)
  zpairs[#zpairs + 1] = ARGV[first + i - 1]
end
batched('HSET', KEYS[2], hpairs)
batched('ZADD', KEYS[3], zpairs)
free_bits(KEYS[5], ids, held_bit(untl, tonumber(fc)))
emit(KEYS[1], KEYS[4], ARGV[7], 'extended', hold, '', items, v)
return { 'OK', v, untl, renewals }
