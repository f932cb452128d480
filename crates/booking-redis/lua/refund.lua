-- refund.lua: return seats sold to an order to sale (refund or void).
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] feed   KEYS[4] free
-- KEYS[5] osold (units sold per owner; only in a show with a ticket cap)
-- KEYS[5 or 6] psold (units sold per payer, payer per order; only in a show
--   with a per-payment cap, and then the last key)
-- ARGV[1] order id   ARGV[2] feed MAXLEN   ARGV[3] '1' when psold is passed, else ''
-- ARGV[4..] seat ids, ascending, unique
--
-- Returns {'OK', version} | {'NOT_SOLD'} | {'UNKNOWN_SHOW'} | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local order = ARGV[1]
local ids, items = seat_list(4)
local psold = ARGV[3] == '1' and KEYS[#KEYS] or nil
local osold = KEYS[5] ~= psold and KEYS[5] or nil

local states, maxv = read_seats(KEYS[2], ids)
for _, s in ipairs(states) do
  if s.k ~= 'S' or s.order ~= order then
    return { 'NOT_SOLD' }
  end
end
local v = maxv + 1
local enc = seat_encode({ v = v, k = 'A' })
set_seats(KEYS[2], ids, enc)
free_bits(KEYS[4], ids, '1')
if osold then
  -- Every seat was sold to the order, so to its one buyer.
  call('HINCRBY', osold, states[1].owner, -#ids)
end
if psold then
  local payer = call('HGET', psold, 'o:' .. order)
  if payer then
    call('HINCRBY', psold, 'p:' .. payer, -#ids)
  end
end
emit(KEYS[1], KEYS[3], ARGV[2], 'refunded', '', order, items, v)
return { 'OK', v }
