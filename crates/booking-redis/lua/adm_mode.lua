-- adm_mode.lua: switches a room's mode.
-- KEYS: the room's ten keys (adm_lib.lua)   ARGV[1] now   ARGV[2] mode
-- Returns {'OK'} | {'UNKNOWN_ROOM'}
now_ms(ARGV[1])
if call('EXISTS', R) == 0 then
  return { 'UNKNOWN_ROOM' }
end
call('HSET', R, 'mode', ARGV[2])
return { 'OK' }
