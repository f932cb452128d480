-- sell.lua: sell a live seat hold to an order (after payment capture).
-- A replay for the same order and owner changes nothing and succeeds.
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] sexp   KEYS[4] orders   KEYS[5] feed
-- KEYS[6] free
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] token version   ARGV[5] order id   ARGV[6] payment reference
-- ARGV[7] feed MAXLEN   ARGV[8..] seat ids, ascending, unique
--
-- Returns {'OK', version, changed (0|1)} | {'EXPIRED'} | {'NOTOWNER'}
--       | {'STALE', current} | {'NOSHOW'} | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
local owner, hold, version, order = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local ids, items = seat_list(8)

local states, maxv = read_seats(KEYS[2], ids)
local replays = 0
for _, s in ipairs(states) do
  if s.k == 'S' and s.order == order and s.owner == owner then
    replays = replays + 1
  else
    local err = check_holder(s, owner, hold, version, now)
    if err then
      return err
    end
  end
end
if replays > 0 then
  if replays ~= #states then
    -- Part sold to this order, part still held: only a partial refund
    -- after the sale can do that.
    return { 'EXPIRED' }
  end
  return { 'OK', maxv, 0 }
end

local v = maxv + 1
local enc = seat_encode({ v = v, k = 'S', owner = owner, order = order })
local hpairs = {}
for i, id in ipairs(ids) do
  hpairs[2 * i - 1] = id
  hpairs[2 * i] = enc
end
batched('HSET', KEYS[2], hpairs)
batched('ZREM', KEYS[3], ids)
free_bits(KEYS[6], ids, '0')
call('HSETNX', KEYS[4], order, ARGV[6])
emit(KEYS[1], KEYS[5], ARGV[7], 'sold', hold, order, items, v)
return { 'OK', v, 1 }
