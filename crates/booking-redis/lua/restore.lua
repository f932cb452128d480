-- restore.lua: put a sale of seats back from the application's order log
-- after Redis lost it (a crash under `appendfsync everysec`, a failover to
-- a replica that had not received it). Idempotent, keyed by the order:
-- seats already sold to the order are left alone; seats available, held
-- under an expired hold, or held under the sale's own hold (the hold
-- survived, its sale did not) are sold to it; any other state (sold to
-- another order, blocked, held live by another hold) refuses the whole
-- restore.
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] sexp   KEYS[4] orders   KEYS[5] feed
-- KEYS[6] free   KEYS[7] osold (units sold per owner; only in a show with a ticket cap)
-- KEYS[7 or 8] psold (units sold per payer, payer per order; only when ARGV[7]
--   names a payer, and then the last key)
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] order id   ARGV[5] the sale record ('<version>|<json>')   ARGV[6] feed MAXLEN
-- ARGV[7] the sale's payer, counted in a show with a per-payment cap ('' otherwise)
-- ARGV[8..] seat ids, ascending, unique, within the show
--
-- Returns {'OK', version} | {'ALREADY'} | {'SEATS_TAKEN', {seat...}}
--       | {'SALE_CONFLICT'} (the order has another sale record) | {'UNKNOWN_SHOW'}
--       | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
local owner, hold, order = ARGV[2], ARGV[3], ARGV[4]
local ids = seat_list(8)
local payer = ARGV[7]
local psold = payer ~= '' and KEYS[#KEYS] or nil
local osold = KEYS[7] ~= psold and KEYS[7] or nil
local record = call('HGET', KEYS[4], order)
if record and record ~= ARGV[5] then
  return { 'SALE_CONFLICT' }
end

local states = read_seats(KEYS[2], ids)
local todo, taken, maxv = {}, {}, 0
for i, s in ipairs(states) do
  if s.k == 'S' and s.order == order then
    -- Already sold to this order.
  elseif s.k == 'A' or (s.k == 'H' and (s.untl <= now or s.hold == hold)) then
    todo[#todo + 1] = ids[i]
    if s.v > maxv then
      maxv = s.v
    end
  else
    taken[#taken + 1] = ids[i]
  end
end
if #taken > 0 then
  return { 'SEATS_TAKEN', taken }
end
call('HSETNX', KEYS[4], order, ARGV[5])
if #todo == 0 then
  return { 'ALREADY' }
end
local v = maxv + 1
local enc = seat_encode({ v = v, k = 'S', owner = owner, order = order })
set_seats(KEYS[2], todo, enc)
batched('ZREM', KEYS[3], todo)
free_bits(KEYS[6], todo, '0')
if osold then
  call('HINCRBY', osold, owner, #todo)
end
if psold then
  call('HINCRBY', psold, 'p:' .. payer, #todo)
  call('HSET', psold, 'o:' .. order, payer)
end
emit(KEYS[1], KEYS[5], ARGV[6], 'sold', hold, order, 's:' .. table.concat(todo, ','), v)
return { 'OK', v }
