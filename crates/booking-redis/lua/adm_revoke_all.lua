-- adm_revoke_all.lua: voids every admission so far: a new revocation
-- generation, and every live session revoked.
-- KEYS: the room's ten keys (adm_lib.lua)   ARGV[1] now
-- Returns {'OK', the new generation} | {'UNKNOWN_ROOM'}
local now = now_ms(ARGV[1])
if call('EXISTS', R) == 0 then
  return { 'UNKNOWN_ROOM' }
end
local gen = call('HINCRBY', R, 'gen', 1)
for _, v in ipairs(call('ZRANGEBYSCORE', ACTIVE, '(' .. int(now), '+inf')) do
  local _, key, untl, joined, session = decode(call('HGET', VIS, v))
  put(v, 'rev', key, untl, joined, session)
  call('ZREM', ACTIVE, v)
end
return { 'OK', gen }
