-- adm_create.lua: creates a room.
-- KEYS: the room's ten keys (adm_lib.lua)
-- ARGV[1] now   ARGV[2] opens_at ms   ARGV[3] mode   ARGV[4] late order
-- ARGV[5] per minute   ARGV[6] max active   ARGV[7] session ttl ms
-- ARGV[8] inlet's starting credits ('' for no inlet)
-- Returns {'OK'} | {'EXISTS'}
now_ms(ARGV[1])
if call('EXISTS', R) == 1 then
  return { 'EXISTS' }
end
local credits = ARGV[8]
if credits == '' then
  credits = '0'
end
call('HSET', R, 'opens', ARGV[2], 'mode', ARGV[3], 'late', ARGV[4], 'pm', ARGV[5], 'max', ARGV[6],
  'ttl', ARGV[7], 'inlet', ARGV[8], 'credits', credits, 'gen', '0', 'seq', '0')
return { 'OK' }
