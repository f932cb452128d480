-- adm_join.lua: puts a session in a room, or finds its place.
-- KEYS: the room's ten keys (adm_lib.lua)
-- ARGV[1] now   ARGV[2] session   ARGV[3] a new visitor id
-- ARGV[4] the random key of a late arrival (below 2^50)
-- Returns {'OK', new (0 or 1), visitor view (adm_lib.lua)}
-- | {'UNKNOWN_ROOM'} | {'CLOSED'} | {'ID_IN_USE'}
local now = now_ms(ARGV[1])
local session, v = ARGV[2], ARGV[3]
local c = call('HMGET', R, 'mode', 'late', 'opens', 'drawn')
if not c[1] then
  return { 'UNKNOWN_ROOM' }
end
local existing = call('HGET', SESS, session)
if existing then
  return { 'OK', 0, view(existing, now) }
end
if c[1] == 'closed' then
  return { 'CLOSED' }
end
if call('HEXISTS', VIS, v) == 1 then
  return { 'ID_IN_USE' }
end
local seq = call('HINCRBY', R, 'seq', 1) - 1
call('HSET', SESS, session, v)
local pre = (not c[4]) and now < tonumber(c[3])
local key
if pre then
  key = seq
elseif c[2] == 'random' then
  key = LATE + tonumber(ARGV[4])
else
  key = LATE + seq
end
if c[1] == 'pass' then
  admit_one(v, key, now, session, now)
elseif pre then
  put(v, 'pre', key, 0, now, session)
  call('ZADD', PRE, int(seq), v)
else
  put(v, 'wait', key, 0, now, session)
  call('ZADD', QUEUE, int(key), v)
end
return { 'OK', 1, view(v, now) }
