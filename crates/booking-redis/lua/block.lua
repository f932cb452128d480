-- block.lua: take available seats out of sale, or return blocked seats to
-- sale, all or none.
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] sexp   KEYS[4] feed   KEYS[5] free
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] 'B' block | 'U' unblock
-- ARGV[3] feed MAXLEN   ARGV[4..] seat ids, ascending, unique
--
-- Returns {'OK', version} | {'WRONG', {seat...}} | {'NOSHOW'} | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local block = ARGV[2] == 'B'
local now = 0
if block then
  now = now_ms(ARGV[1])
end
local first = 4
local ids, items = seat_list(first)

local states, maxv = read_seats(KEYS[2], ids)
local wrong = {}
for i, s in ipairs(states) do
  local ok
  if block then
    -- Available: free, or held with an expired hold (lazy expiry).
    ok = s.k == 'A' or (s.k == 'H' and s.untl <= now)
  else
    ok = s.k == 'B'
  end
  if not ok then
    wrong[#wrong + 1] = ARGV[first + i - 1]
  end
end
if #wrong > 0 then
  return { 'WRONG', wrong }
end
local v = maxv + 1
local enc
if block then
  enc = seat_encode({ v = v, k = 'B' })
else
  enc = seat_encode({ v = v, k = 'A' })
end
local hpairs, expired = {}, {}
for i, s in ipairs(states) do
  hpairs[#hpairs + 1] = ARGV[first + i - 1]
  hpairs[#hpairs + 1] = enc
  if s.k == 'H' then
    expired[#expired + 1] = ARGV[first + i - 1]
  end
end
batched('HSET', KEYS[2], hpairs)
batched('ZREM', KEYS[3], expired)
if block then
  free_bits(KEYS[5], ids, '0')
else
  free_bits(KEYS[5], ids, '1')
end
local kind = 'unblocked'
if block then
  kind = 'blocked'
end
emit(KEYS[1], KEYS[4], ARGV[3], kind, '', '', items, v)
return { 'OK', v }
