-- adm_credits.lua: gives an inlet room more credits, capped at its cap.
-- KEYS: the room's ten keys (adm_lib.lua)   ARGV[1] now   ARGV[2] credits
-- Returns {'OK', credits now} | {'UNKNOWN_ROOM'}
now_ms(ARGV[1])
local c = call('HMGET', R, 'inlet', 'credits', 'max')
if not c[3] then
  return { 'UNKNOWN_ROOM' }
end
if c[1] == '' then
  return { 'OK', 0 }
end
local credits = math.min(tonumber(c[2]) + tonumber(ARGV[2]), tonumber(c[3]))
call('HSET', R, 'credits', int(credits))
return { 'OK', credits }
