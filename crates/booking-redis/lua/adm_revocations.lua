-- adm_revocations.lua: the revocation generation and the revoked visitors
-- whose sessions would not have ended yet (older entries are dropped).
-- KEYS: the room's ten keys (adm_lib.lua)   ARGV[1] now
-- Returns {'OK', generation, {visitor, ...}} | {'UNKNOWN_ROOM'}
local now = now_ms(ARGV[1])
local gen = call('HGET', R, 'gen')
if not gen then
  return { 'UNKNOWN_ROOM' }
end
call('ZREMRANGEBYSCORE', REVOKED, '-inf', int(now))
return { 'OK', tonumber(gen), call('ZRANGE', REVOKED, 0, -1) }
