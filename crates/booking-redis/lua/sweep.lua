-- sweep.lua: free up to `limit` expired seat holds and pool holds and
-- report them, one change-feed event per freed hold. Expired seats are
-- found through the seat-expiry sorted set, never through keyspace events.
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] sexp   KEYS[4] pools
-- KEYS[5] pholds   KEYS[6] pexp   KEYS[7] feed   KEYS[8] free
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] limit (>= 1)
-- ARGV[3] feed MAXLEN
--
-- Returns {'OK', {{'s', hold, owner, {seat...}} | {'p', hold, owner, pool, quantity} ...}}
--       | {'NOSHOW'} | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local refused_pools, t = show_check(KEYS[1], KEYS[4])
if refused_pools then
  return refused_pools
end
local now = now_ms(ARGV[1])
local limit = tonumber(ARGV[2])
local out = {}
local by_hold = {}
local versions = {}
local freed = 0

for _, seat in ipairs(call('ZRANGEBYSCORE', KEYS[3], '-inf', int(now), 'LIMIT', 0, limit)) do
  local s = seat_decode(call('HGET', KEYS[2], seat))
  call('ZREM', KEYS[3], seat)
  if s.k == 'H' and s.untl <= now then
    local v = s.v + 1
    call('HSET', KEYS[2], seat, seat_encode({ v = v, k = 'A' }))
    call('SETBIT', KEYS[8], seat, '1')
    freed = freed + 1
    local i = by_hold[s.hold]
    if not i then
      out[#out + 1] = { 's', s.hold, s.owner, {} }
      i = #out
      by_hold[s.hold] = i
      versions[i] = 0
    end
    local seats = out[i][4]
    seats[#seats + 1] = seat
    if v > versions[i] then
      versions[i] = v
    end
  end
end

local seat_groups = #out
if freed < limit then
  pool_sync(KEYS[4], KEYS[5], KEYS[6], tonumber(t), now)
  local touched, order = {}, {}
  for _, id in ipairs(call('ZRANGEBYSCORE', KEYS[6], '-inf', int(now), 'LIMIT', 0, limit - freed)) do
    local raw = call('HGET', KEYS[5], id)
    call('ZREM', KEYS[6], id)
    if raw then
      local h = ph_decode(raw)
      if h.untl <= now then
        call('HDEL', KEYS[5], id)
        call('HINCRBY', KEYS[4], 'x:' .. h.pool, -h.qty)
        if not touched[h.pool] then
          touched[h.pool] = true
          order[#order + 1] = h.pool
        end
        out[#out + 1] = { 'p', id, h.owner, h.pool, h.qty }
      end
    end
  end
  local pool_version = {}
  for _, pool in ipairs(order) do
    pool_version[pool] = call('HINCRBY', KEYS[4], 'v:' .. pool, 1)
  end
  for i = seat_groups + 1, #out do
    versions[i] = pool_version[out[i][4]]
  end
end

for i, e in ipairs(out) do
  local items
  if e[1] == 's' then
    items = 's:' .. table.concat(e[4], ',')
  else
    items = 'p:' .. e[4] .. ':' .. int(e[5])
  end
  emit(KEYS[1], KEYS[7], ARGV[3], 'expired', e[2], '', items, versions[i])
end
return { 'OK', out }
