-- idem_end.lua: the holder of a key's lease ends its run: stores the final
-- response (finish), or gives the key back without one (release). Only
-- under the key's current lease and while no response is stored; a holder
-- whose lease ran out may still finish while nobody took the key over.
--
-- KEYS[1] the key's record
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)
-- ARGV[2] the lease id   ARGV[3] retention ms   ARGV[4] 'finish' | 'release'
-- ARGV[5] status   ARGV[6] body (finish only)
--
-- Returns {'OK'} | {'NOT_HELD'}
local now = now_ms(ARGV[1])
local rec = call('HMGET', KEYS[1], 'lease', 'status', 'created')
if not rec[1] or rec[1] ~= ARGV[2] or rec[2] or past_retention(rec[3], tonumber(ARGV[3]), now) then
  return { 'NOT_HELD' }
end
if ARGV[4] == 'finish' then
  call('HSET', KEYS[1], 'status', ARGV[5], 'body', ARGV[6])
end
call('HDEL', KEYS[1], 'until')
return { 'OK' }
