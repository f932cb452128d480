-- extend_pool.lua: extend a live pool hold by the show's TTL, capped at the
-- hold's deadline; the pool's version is bumped and becomes the hold's.
--
-- KEYS[1] meta   KEYS[2] pools   KEYS[3] pholds   KEYS[4] pexp   KEYS[5] feed
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] token version   ARGV[5] ttl ms   ARGV[6] max renewals
-- ARGV[7] feed MAXLEN   ARGV[8] pool id   ARGV[9] token quantity
--
-- Returns {'OK', version, until, renewals} | {'MISMATCH'} | {'EXPIRED'}
--       | {'NOTOWNER'} | {'STALE', current} | {'RENEWALS'} | {'LIFETIME'}
--       | {'NOSHOW'} | {'LOST'}
local refused, t = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
pool_sync(KEYS[2], KEYS[3], KEYS[4], tonumber(t), now)
local owner, hold, version = ARGV[2], ARGV[3], tonumber(ARGV[4])
local ttl, maxr = tonumber(ARGV[5]), tonumber(ARGV[6])
local pool, qty = ARGV[8], tonumber(ARGV[9])

local h = ph_find(KEYS[3], hold, pool)
if h and h.qty ~= qty then
  return { 'MISMATCH' }
end
local err = pool_check_holder(h, owner, version, now)
if err then
  return err
end
if h.renewals >= maxr then
  return { 'RENEWALS' }
end
if h.untl >= h.deadline then
  return { 'LIFETIME' }
end
local v = call('HINCRBY', KEYS[2], 'v:' .. pool, 1)
h.untl = math.min(now + ttl, h.deadline)
h.renewals = h.renewals + 1
h.v = v
call('HSET', KEYS[3], hold, ph_encode(h))
call('ZADD', KEYS[4], int(h.untl), hold)
emit(KEYS[1], KEYS[5], ARGV[7], 'extended', hold, '', 'p:' .. pool .. ':' .. int(h.qty), v)
return { 'OK', v, h.untl, h.renewals }
