-- adm_state.lua: reads a room's settings and counts.
-- KEYS: the room's ten keys (adm_lib.lua)   ARGV[1] now
-- Returns {'OK', opens, mode, late, pm, max, ttl, inlet, credits, gen,
--          drawn ('' if not), pre-queue, waiting, active, last minute}
-- | {'UNKNOWN_ROOM'}
local now = now_ms(ARGV[1])
local c = call('HMGET', R, 'opens', 'mode', 'late', 'pm', 'max', 'ttl', 'inlet', 'credits', 'gen', 'drawn')
if not c[1] then
  return { 'UNKNOWN_ROOM' }
end
local pre
if c[10] then
  pre = call('LLEN', ARRIVALS)
else
  pre = call('ZCARD', PRE)
end
return { 'OK', c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10] or '', pre, call('ZCARD', QUEUE),
  call('ZCOUNT', ACTIVE, '(' .. int(now), '+inf'), call('ZCOUNT', WINDOW, '(' .. int(now - MINUTE), '+inf') }
