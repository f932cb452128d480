-- refund.lua: return seats sold to an order to sale (refund or void).
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] feed   KEYS[4] free
-- KEYS[5] osold (units sold per owner; only in a show with a ticket cap)
-- ARGV[1] order id   ARGV[2] feed MAXLEN   ARGV[3..] seat ids, ascending, unique
--
-- Returns {'OK', version} | {'NOT_SOLD'} | {'UNKNOWN_SHOW'} | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local order = ARGV[1]
local ids, items = seat_list(3)

local states, maxv = read_seats(KEYS[2], ids)
for _, s in ipairs(states) do
  if s.k ~= 'S' or s.order ~= order then
    return { 'NOT_SOLD' }
  end
end
local v = maxv + 1
local enc = seat_encode({ v = v, k = 'A' })
local hpairs = {}
for i, id in ipairs(ids) do
  hpairs[2 * i - 1] = id
  hpairs[2 * i] = enc
end
batched('HSET', KEYS[2], hpairs)
free_bits(KEYS[4], ids, '1')
if KEYS[5] then
  -- Every seat was sold to the order, so to its one buyer.
  call('HINCRBY', KEYS[5], states[1].owner, -#ids)
end
emit(KEYS[1], KEYS[3], ARGV[2], 'refunded', '', order, items, v)
return { 'OK', v }
