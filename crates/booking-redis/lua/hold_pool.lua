-- hold_pool.lua: hold units of a general-admission pool, all or none.
--
-- KEYS[1] meta    KEYS[2] pools   KEYS[3] pholds  KEYS[4] pexp (pool hold expiries)
-- KEYS[5] own:<owner> (the owner's index)   KEYS[6] seats   KEYS[7] feed
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] ttl ms   ARGV[5] max hold lifetime ms
-- ARGV[6] per-owner limit (-1 = none)   ARGV[7] feed MAXLEN
-- ARGV[8] pool id (within the show)   ARGV[9] quantity (>= 1)
-- ARGV[10] owner index lifetime ms (0 = no expiry)
--
-- Expired holds of the pool are reclaimed silently when the hold succeeds
-- (they are then neither swept nor reported), as the model does. The
-- capacity check reads the pool's counters (see pool.lua): no scan of the
-- expired holds.
--
-- Returns {'OK', version, until} | {'LIMIT', would_hold, max}
--       | {'CAPACITY', requested, available} | {'NOSHOW'} | {'LOST'}
local refused, t = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
local owner, hold = ARGV[2], ARGV[3]
local ttl, maxhold, maxown = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local pool, qty = ARGV[8], tonumber(ARGV[9])

local live
if maxown >= 0 then
  local held
  held, live = owner_index(KEYS[5], KEYS[6], KEYS[3], owner, now, {})
  if held + qty > maxown then
    return { 'LIMIT', held + qty, maxown }
  end
end

pool_sync(KEYS[2], KEYS[3], KEYS[4], tonumber(t), now)
local f = call('HMGET', KEYS[2], 'c:' .. pool, 's:' .. pool, 'h:' .. pool)
local cap, sold, held = tonumber(f[1] or '0'), tonumber(f[2] or '0'), tonumber(f[3] or '0')
local available = math.max(0, cap - sold - held)
if qty > available then
  return { 'CAPACITY', qty, available }
end

pool_reclaim(KEYS[2], KEYS[3], KEYS[4], pool, now)
local v = call('HINCRBY', KEYS[2], 'v:' .. pool, 1)
local untl = now + ttl
call('HINCRBY', KEYS[2], 'h:' .. pool, int(qty))
call('HSET', KEYS[3], hold,
  ph_encode({ pool = pool, owner = owner, qty = qty, untl = untl, deadline = now + maxhold, renewals = 0, v = v }))
call('ZADD', KEYS[4], int(untl), hold)
if maxown >= 0 then
  owner_save(KEYS[5], live, { 'p' .. hold }, tonumber(ARGV[10]))
end
emit(KEYS[1], KEYS[7], ARGV[7], 'held', hold, '', 'p:' .. pool .. ':' .. int(qty), v)
return { 'OK', v, untl }
