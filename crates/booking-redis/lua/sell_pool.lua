-- sell_pool.lua: sell a live pool hold to an order (after payment capture).
-- An order is sold once: when it has a sale record, the record is returned
-- (the library answers a replay of the first request from it, anything
-- else is a conflict) and nothing changes.
--
-- KEYS[1] meta   KEYS[2] pools   KEYS[3] pholds   KEYS[4] pexp   KEYS[5] psales
-- KEYS[6] orders   KEYS[7] feed
-- KEYS[8] osold (units sold per owner; only in a show with a ticket cap)
-- KEYS[8 or 9] psold (units sold per payer, payer per order; only in a show
--   with a per-payment cap, and then the last key)
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] token version   ARGV[5] order id
-- ARGV[6] the sale record's JSON (owner, token, payment)
-- ARGV[7] feed MAXLEN   ARGV[8] the per-payment cap ('' for none)
-- ARGV[9] the payer key ('' for none)   ARGV[10] pool id   ARGV[11] token quantity
--
-- Returns {'OK', version} | {'RECORD', record} | {'TOKEN_MISMATCH'} | {'HOLD_EXPIRED'}
--       | {'NOT_OWNER'} | {'STALE_TOKEN', current} | {'UNKNOWN_SHOW'} | {'LOST'}
--       | {'TICKETS_PER_PAYMENT', what the payer would have bought}
local refused, t = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local owner, hold, version, order = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local record = call('HGET', KEYS[6], order)
if record then
  return { 'RECORD', record }
end
local pool, qty = ARGV[10], tonumber(ARGV[11])

-- The per-payment cap, after the order's record and before the hold.
local cap, payer = tonumber(ARGV[8]), ARGV[9]
local psold = cap and KEYS[#KEYS]
local osold = KEYS[8] ~= psold and KEYS[8] or nil
if cap and payer ~= '' then
  local would = (tonumber(call('HGET', psold, 'p:' .. payer)) or 0) + qty
  if would > cap then
    return { 'TICKETS_PER_PAYMENT', would }
  end
end
local now = now_ms(ARGV[1])
pool_sync(KEYS[2], KEYS[3], KEYS[4], tonumber(t), now)

local h = ph_find(KEYS[3], hold, pool)
if h and h.qty ~= qty then
  return { 'TOKEN_MISMATCH' }
end
local err = pool_check_holder(h, owner, version, now)
if err then
  return err
end

local v = call('HINCRBY', KEYS[2], 'v:' .. pool, 1)
call('HINCRBY', KEYS[2], 'h:' .. pool, -h.qty)
call('HINCRBY', KEYS[2], 's:' .. pool, h.qty)
call('HDEL', KEYS[3], hold)
call('ZREM', KEYS[4], hold)
local sale_field = pool .. ':' .. order
local entry = hold .. '|' .. owner .. '|' .. int(h.qty)
local sales = call('HGET', KEYS[5], sale_field)
if sales then
  entry = sales .. ';' .. entry
end
call('HSET', KEYS[5], sale_field, entry)
call('HSET', KEYS[6], order, int(v) .. '|' .. ARGV[6])
if osold then
  call('HINCRBY', osold, owner, int(h.qty))
end
if psold and payer ~= '' then
  call('HINCRBY', psold, 'p:' .. payer, int(h.qty))
  call('HSET', psold, 'o:' .. order, payer)
end
emit(KEYS[1], KEYS[7], ARGV[7], 'sold', hold, order, 'p:' .. pool .. ':' .. int(h.qty), v)
return { 'OK', v }
