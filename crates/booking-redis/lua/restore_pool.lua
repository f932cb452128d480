-- restore_pool.lua: put a sale of pool units back from the application's
-- order log after Redis lost it. Idempotent, keyed by the order and the
-- hold: a sale of this hold already recorded for the order is left alone;
-- a surviving hold record of the sale's own hold (live or expired) is
-- turned into the sale; otherwise the units are sold if the pool has them
-- free (live holds of others keep theirs).
--
-- KEYS[1] meta   KEYS[2] pools   KEYS[3] pholds   KEYS[4] pexp   KEYS[5] psales
-- KEYS[6] orders   KEYS[7] feed
-- KEYS[8] osold (units sold per owner; only in a show with a ticket cap)
-- KEYS[8 or 9] psold (units sold per payer, payer per order; only when ARGV[9]
--   names a payer, and then the last key)
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] order id   ARGV[5] the sale record ('<version>|<json>')   ARGV[6] feed MAXLEN
-- ARGV[7] pool id   ARGV[8] quantity
-- ARGV[9] the sale's payer, counted in a show with a per-payment cap ('' otherwise)
--
-- Returns {'OK', version} | {'ALREADY'} | {'INSUFFICIENT_CAPACITY', available}
--       | {'SALE_CONFLICT'} (the order has another sale record) | {'UNKNOWN_SHOW'} | {'LOST'}
local refused, t = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
pool_sync(KEYS[2], KEYS[3], KEYS[4], tonumber(t), now)
local owner, hold, order = ARGV[2], ARGV[3], ARGV[4]
local pool, qty = ARGV[7], tonumber(ARGV[8])
local payer = ARGV[9]
local psold = payer ~= '' and KEYS[#KEYS] or nil
local osold = KEYS[8] ~= psold and KEYS[8] or nil
local sale_field = pool .. ':' .. order
local record = call('HGET', KEYS[6], order)
if record and record ~= ARGV[5] then
  return { 'SALE_CONFLICT' }
end

local sales = call('HGET', KEYS[5], sale_field)
if sales then
  for h in string.gmatch(sales, '(%x+)|%x+|%d+') do
    if h == hold then
      call('HSETNX', KEYS[6], order, ARGV[5])
      return { 'ALREADY' }
    end
  end
end

local own = ph_find(KEYS[3], hold, pool)
local own_live = 0
if own and own.untl > now then
  own_live = own.qty
end
local f = call('HMGET', KEYS[2], 'c:' .. pool, 's:' .. pool, 'h:' .. pool)
local cap, sold, live = tonumber(f[1] or '0'), tonumber(f[2] or '0'), tonumber(f[3] or '0')
local available = math.max(0, cap - sold - (live - own_live))
if qty > available then
  return { 'INSUFFICIENT_CAPACITY', available }
end

if own then
  call('HDEL', KEYS[3], hold)
  call('ZREM', KEYS[4], hold)
  if own_live > 0 then
    call('HINCRBY', KEYS[2], 'h:' .. pool, int(-own.qty))
  else
    call('HINCRBY', KEYS[2], 'x:' .. pool, int(-own.qty))
  end
end
local v = call('HINCRBY', KEYS[2], 'v:' .. pool, 1)
call('HINCRBY', KEYS[2], 's:' .. pool, qty)
local entry = hold .. '|' .. owner .. '|' .. int(qty)
if sales then
  entry = sales .. ';' .. entry
end
call('HSET', KEYS[5], sale_field, entry)
if osold then
  call('HINCRBY', osold, owner, qty)
end
if psold then
  call('HINCRBY', psold, 'p:' .. payer, qty)
  call('HSET', psold, 'o:' .. order, payer)
end
call('HSETNX', KEYS[6], order, ARGV[5])
emit(KEYS[1], KEYS[7], ARGV[6], 'sold', hold, order, 'p:' .. pool .. ':' .. int(qty), v)
return { 'OK', v }
