-- sell.lua: sell a live seat hold to an order (after payment capture).
-- An order is sold once: when it has a sale record, the record is returned
-- (the library answers a replay of the first request from it, anything
-- else is a conflict) and nothing changes.
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] sexp   KEYS[4] orders   KEYS[5] feed
-- KEYS[6] free   KEYS[7] osold (units sold per owner; only in a show with a ticket cap)
-- KEYS[7 or 8] psold (units sold per payer, payer per order; only in a show
--   with a per-payment cap, and then the last key)
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] token version   ARGV[5] order id
-- ARGV[6] the sale record's JSON (owner, token, payment)
-- ARGV[7] feed MAXLEN   ARGV[8] the per-payment cap ('' for none)
-- ARGV[9] the payer key ('' for none)   ARGV[10..] seat ids, ascending, unique
--
-- Returns {'OK', version} | {'RECORD', record} | {'HOLD_EXPIRED'} | {'TOKEN_MISMATCH'}
--       | {'NOT_OWNER'} | {'STALE_TOKEN', current} | {'UNKNOWN_SHOW'} | {'LOST'}
--       | {'TICKETS_PER_PAYMENT', what the payer would have bought}
local refused = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local owner, hold, version, order = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local record = call('HGET', KEYS[4], order)
if record then
  return { 'RECORD', record }
end
local now = now_ms(ARGV[1])
local ids, items = seat_list(10)

-- The per-payment cap, after the order's record and before the hold.
local cap, payer = tonumber(ARGV[8]), ARGV[9]
local psold = cap and KEYS[#KEYS]
local osold = KEYS[7] ~= psold and KEYS[7] or nil
if cap and payer ~= '' then
  local would = (tonumber(call('HGET', psold, 'p:' .. payer)) or 0) + #ids
  if would > cap then
    return { 'TICKETS_PER_PAYMENT', would }
  end
end

local states, maxv = read_seats(KEYS[2], ids)
for _, s in ipairs(states) do
  local err = check_holder(s, owner, hold, version, #ids, now)
  if err then
    return err
  end
end

local v = maxv + 1
local enc = seat_encode({ v = v, k = 'S', owner = owner, order = order })
set_seats(KEYS[2], ids, enc)
batched('ZREM', KEYS[3], ids)
free_bits(KEYS[6], ids, '0')
call('HSET', KEYS[4], order, int(v) .. '|' .. ARGV[6])
if osold then
  call('HINCRBY', osold, owner, #ids)
end
if psold and payer ~= '' then
  call('HINCRBY', psold, 'p:' .. payer, #ids)
  call('HSET', psold, 'o:' .. order, payer)
end
emit(KEYS[1], KEYS[5], ARGV[7], 'sold', hold, order, items, v)
return { 'OK', v }
