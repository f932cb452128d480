-- adm_admit.lua: admits a wave: ends the sessions that ran out (an inlet
-- gets their credits), then admits the head of the queue, as many as the
-- rate (per minute), the cap (active) and an inlet's credits allow.
-- KEYS: the room's ten keys (adm_lib.lua)   ARGV[1] now
-- Returns {'OK', visitor, until, visitor, until, ...} | {'UNKNOWN_ROOM'}
-- | {'NOT_DRAWN'}
local now = now_ms(ARGV[1])
local c = call('HMGET', R, 'opens', 'drawn', 'pm', 'max', 'inlet', 'credits')
if not c[1] then
  return { 'UNKNOWN_ROOM' }
end
if now < tonumber(c[1]) then
  return { 'OK' }
end
if not c[2] then
  return { 'NOT_DRAWN' }
end
local max, inlet, credits = tonumber(c[4]), c[5] ~= '', tonumber(c[6])
local ended = call('ZRANGEBYSCORE', ACTIVE, '-inf', int(now))
for _, v in ipairs(ended) do
  local st, key, untl, joined, session = decode(call('HGET', VIS, v))
  if st == 'adm' then
    put(v, 'exp', key, untl, joined, session)
  end
end
call('ZREMRANGEBYSCORE', ACTIVE, '-inf', int(now))
if inlet then
  credits = math.min(credits + #ended, max)
end
call('ZREMRANGEBYSCORE', WINDOW, '-inf', int(now - MINUTE))
local n = math.min(tonumber(c[3]) - call('ZCARD', WINDOW), max - call('ZCARD', ACTIVE), call('ZCARD', QUEUE))
if inlet then
  n = math.min(n, credits)
end
local out = { 'OK' }
if n > 0 then
  for _, v in ipairs(call('ZRANGE', QUEUE, 0, n - 1)) do
    local _, key, _, joined, session = decode(call('HGET', VIS, v))
    call('ZREM', QUEUE, v)
    out[#out + 1] = v
    out[#out + 1] = admit_one(v, key, joined, session, now)
  end
  if inlet then
    credits = credits - n
  end
end
if inlet then
  call('HSET', R, 'credits', int(credits))
end
return out
