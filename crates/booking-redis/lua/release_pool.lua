-- release_pool.lua: the owner releases a live pool hold.
--
-- KEYS[1] meta   KEYS[2] pools   KEYS[3] pholds   KEYS[4] pexp   KEYS[5] feed
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] token version   ARGV[5] feed MAXLEN   ARGV[6] pool id
-- ARGV[7] token quantity
--
-- Returns {'OK', version} | {'MISMATCH'} | {'EXPIRED'} | {'NOTOWNER'}
--       | {'STALE', current} | {'NOSHOW'} | {'LOST'}
local refused, t = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
pool_sync(KEYS[2], KEYS[3], KEYS[4], tonumber(t), now)
local owner, hold, version = ARGV[2], ARGV[3], tonumber(ARGV[4])
local pool, qty = ARGV[6], tonumber(ARGV[7])

local h = ph_find(KEYS[3], hold, pool)
if h and h.qty ~= qty then
  return { 'MISMATCH' }
end
local err = pool_check_holder(h, owner, version, now)
if err then
  return err
end
local v = call('HINCRBY', KEYS[2], 'v:' .. pool, 1)
call('HINCRBY', KEYS[2], 'h:' .. pool, -h.qty)
call('HDEL', KEYS[3], hold)
call('ZREM', KEYS[4], hold)
emit(KEYS[1], KEYS[5], ARGV[5], 'released', hold, '', 'p:' .. pool .. ':' .. int(h.qty), v)
return { 'OK', v }
