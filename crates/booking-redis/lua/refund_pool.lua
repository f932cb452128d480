-- refund_pool.lua: return units of a pool sold to an order to sale, taken
-- from the order's oldest sales in the pool first.
--
-- KEYS[1] meta   KEYS[2] pools   KEYS[3] psales   KEYS[4] feed
-- KEYS[5] osold (units sold per owner; only in a show with a ticket cap)
-- KEYS[5 or 6] psold (units sold per payer, payer per order; only in a show
--   with a per-payment cap, and then the last key)
-- ARGV[1] order id   ARGV[2] feed MAXLEN   ARGV[3] '1' when psold is passed, else ''
-- ARGV[4] pool id   ARGV[5] quantity
--
-- Returns {'OK', version} | {'NOT_SOLD'} | {'UNKNOWN_SHOW'} | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local order, pool, qty = ARGV[1], ARGV[4], tonumber(ARGV[5])
local psold = ARGV[3] == '1' and KEYS[#KEYS] or nil
local osold = KEYS[5] ~= psold and KEYS[5] or nil
local field = pool .. ':' .. order
local sales = call('HGET', KEYS[3], field)
if not sales then
  return { 'NOT_SOLD' }
end
local entries, bought = {}, 0
for h, o, q in string.gmatch(sales, '(%x+)|(%x+)|(%d+)') do
  entries[#entries + 1] = { h, o, tonumber(q) }
  bought = bought + tonumber(q)
end
if bought < qty then
  return { 'NOT_SOLD' }
end
-- Units come back from the order's oldest sales first.
local left, kept = qty, {}
for _, e in ipairs(entries) do
  local take = math.min(left, e[3])
  left = left - take
  if e[3] > take then
    kept[#kept + 1] = e[1] .. '|' .. e[2] .. '|' .. int(e[3] - take)
  end
  if osold and take > 0 then
    call('HINCRBY', osold, e[2], -take)
  end
end
local v = call('HINCRBY', KEYS[2], 'v:' .. pool, 1)
call('HINCRBY', KEYS[2], 's:' .. pool, -qty)
if psold then
  local payer = call('HGET', psold, 'o:' .. order)
  if payer then
    call('HINCRBY', psold, 'p:' .. payer, -qty)
  end
end
if #kept == 0 then
  call('HDEL', KEYS[3], field)
else
  call('HSET', KEYS[3], field, table.concat(kept, ';'))
end
emit(KEYS[1], KEYS[4], ARGV[2], 'refunded', '', order, 'p:' .. pool .. ':' .. int(qty), v)
return { 'OK', v }
