-- adm_draw.lua: records the draw of the pre-queue, once, from opens_at on.
-- KEYS: the room's ten keys (adm_lib.lua)
-- ARGV[1] now   ARGV[2] seed (64 hex digits)   ARGV[3..] the drawn order
-- Returns {'OK', drawn ms} | {'UNKNOWN_ROOM'} | {'NOT_OPEN', opens ms}
-- | {'ALREADY'} | {'MISMATCH'}
local now = now_ms(ARGV[1])
local c = call('HMGET', R, 'opens', 'drawn')
if not c[1] then
  return { 'UNKNOWN_ROOM' }
end
if now < tonumber(c[1]) then
  return { 'NOT_OPEN', tonumber(c[1]) }
end
if c[2] then
  return { 'ALREADY' }
end
if #ARGV - 2 ~= call('ZCARD', PRE) then
  return { 'MISMATCH' }
end
local seen = {}
for i = 3, #ARGV do
  local v = ARGV[i]
  if seen[v] or not call('ZSCORE', PRE, v) then
    return { 'MISMATCH' }
  end
  seen[v] = true
end
push_all(ARRIVALS, call('ZRANGE', PRE, 0, -1))
local order = {}
for i = 3, #ARGV do
  local v = ARGV[i]
  local _, _, _, joined, session = decode(call('HGET', VIS, v))
  put(v, 'wait', i - 3, 0, joined, session)
  call('ZADD', QUEUE, int(i - 3), v)
  order[#order + 1] = v
end
push_all(ORDER, order)
call('DEL', PRE)
call('HSET', R, 'seed', ARGV[2], 'drawn', int(now))
return { 'OK', now }
