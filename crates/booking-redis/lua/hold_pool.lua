-- hold_pool.lua: hold units of a general-admission pool, all or none.
--
-- KEYS[1] meta    KEYS[2] pools   KEYS[3] pholds  KEYS[4] pexp (pool hold expiries)
-- KEYS[5] own:<owner> (the owner's index)   KEYS[6] seats   KEYS[7] feed
-- KEYS[8] osold (units sold per owner)
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] ttl ms   ARGV[5] max hold lifetime ms
-- ARGV[6] per-owner limits "<held>,<tickets>" (each 'none' = no limit)   ARGV[7] feed MAXLEN
-- ARGV[8] pool id (within the show)   ARGV[9] quantity (>= 1)
-- ARGV[10] owner index lifetime ms (0 = no expiry)
--
-- Expired holds of the pool are reclaimed silently when the hold succeeds
-- (they are then neither swept nor reported), as the model does. The
-- capacity check reads the pool's counters (see pool.lua): no scan of the
-- expired holds.
--
-- Returns {'OK', version, until} | {'HELD_PER_OWNER', would_hold} | {'TICKETS_PER_OWNER', would_have}
--       | {'INSUFFICIENT_CAPACITY', available} | {'UNKNOWN_SHOW'} | {'LOST'}
local refused, t = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
local owner, hold = ARGV[2], ARGV[3]
local ttl, maxhold = tonumber(ARGV[4]), tonumber(ARGV[5])
local maxown, maxtix = owner_limits(ARGV[6])
local pool, qty = ARGV[8], tonumber(ARGV[9])

local live
if maxown or maxtix then
  local held
  held, live = owner_index(KEYS[5], KEYS[6], KEYS[3], owner, now, {})
  local over = owner_refusal(maxown, maxtix, KEYS[8], owner, held, qty)
  if over then
    return over
  end
end

pool_sync(KEYS[2], KEYS[3], KEYS[4], tonumber(t), now)
local f = call('HMGET', KEYS[2], 'c:' .. pool, 's:' .. pool, 'h:' .. pool)
local cap, sold, held = tonumber(f[1] or '0'), tonumber(f[2] or '0'), tonumber(f[3] or '0')
local available = math.max(0, cap - sold - held)
if qty > available then
  return { 'INSUFFICIENT_CAPACITY', available }
end

pool_reclaim(KEYS[2], KEYS[3], KEYS[4], pool, now)
local v = call('HINCRBY', KEYS[2], 'v:' .. pool, 1)
local untl = now + ttl
call('HINCRBY', KEYS[2], 'h:' .. pool, int(qty))
call('HSET', KEYS[3], hold,
  ph_encode({ pool = pool, owner = owner, qty = qty, untl = untl, deadline = now + maxhold, renewals = 0, v = v }))
call('ZADD', KEYS[4], int(untl), hold)
if live then
  owner_save(KEYS[5], live, { 'p' .. hold }, ARGV[10])
end
emit(KEYS[1], KEYS[7], ARGV[7], 'held', hold, '', 'p:' .. pool .. ':' .. int(qty), v)
return { 'OK', v, untl }
