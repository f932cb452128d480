-- verify_pool.lua: check a pool hold as release would, changing nothing.
--
-- KEYS[1] meta   KEYS[2] pools   KEYS[3] pholds
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] token version   ARGV[5] pool id   ARGV[6] token quantity
--
-- Returns {'OK', version, until, renewals} | {'MISMATCH'} | {'EXPIRED'}
--       | {'NOTOWNER'} | {'STALE', current} | {'NOSHOW'} | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
local owner, hold, version = ARGV[2], ARGV[3], tonumber(ARGV[4])
local pool, qty = ARGV[5], tonumber(ARGV[6])
local h = ph_find(KEYS[3], hold, pool)
if h and h.qty ~= qty then
  return { 'MISMATCH' }
end
local err = pool_check_holder(h, owner, version, now)
if err then
  return err
end
return { 'OK', h.v, h.untl, h.renewals }
