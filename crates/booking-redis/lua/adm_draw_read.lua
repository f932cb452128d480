-- adm_draw_read.lua: reads the pre-queue and the recorded draw.
-- KEYS: the room's ten keys (adm_lib.lua)   ARGV[1] now
-- Returns {'OK', seed ('' if not drawn), drawn ms ('' if not),
--          arrivals in arrival order, drawn order}
-- | {'UNKNOWN_ROOM'}
now_ms(ARGV[1])
local c = call('HMGET', R, 'opens', 'seed', 'drawn')
if not c[1] then
  return { 'UNKNOWN_ROOM' }
end
if not c[3] then
  return { 'OK', '', '', call('ZRANGE', PRE, 0, -1), {} }
end
return { 'OK', c[2], c[3], call('LRANGE', ARRIVALS, 0, -1), call('LRANGE', ORDER, 0, -1) }
