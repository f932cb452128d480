-- adm_visitor.lua: a session's visitor as it stands now.
-- KEYS: the room's ten keys (adm_lib.lua)   ARGV[1] now   ARGV[2] session
-- Returns {'OK', visitor view (adm_lib.lua)} | {'UNKNOWN_ROOM'}
-- | {'UNKNOWN_VISITOR'}
local now = now_ms(ARGV[1])
if call('EXISTS', R) == 0 then
  return { 'UNKNOWN_ROOM' }
end
local v = call('HGET', SESS, ARGV[2])
if not v then
  return { 'UNKNOWN_VISITOR' }
end
return { 'OK', view(v, now) }
