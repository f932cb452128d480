-- adm_end.lua: a visitor leaves (its session must match) or is revoked:
-- it gives up its place, or its live session ends and its token is listed
-- as revoked until the session would have ended.
-- KEYS: the room's ten keys (adm_lib.lua)
-- ARGV[1] now   ARGV[2] visitor   ARGV[3] 'left' or 'rev'
-- ARGV[4] the session (for 'left')
-- Returns {'OK'} | {'UNKNOWN_ROOM'} | {'UNKNOWN_VISITOR'}
-- | {'SESSION_MISMATCH'}
local now = now_ms(ARGV[1])
local v, to = ARGV[2], ARGV[3]
if call('EXISTS', R) == 0 then
  return { 'UNKNOWN_ROOM' }
end
local rec = call('HGET', VIS, v)
if not rec then
  return { 'UNKNOWN_VISITOR' }
end
local st, key, untl, joined, session = decode(rec)
if to == 'left' and session ~= ARGV[4] then
  return { 'SESSION_MISMATCH' }
end
if st == 'pre' then
  call('ZREM', PRE, v)
  put(v, to, key, untl, joined, session)
elseif st == 'wait' then
  call('ZREM', QUEUE, v)
  put(v, to, key, untl, joined, session)
elseif st == 'adm' and untl > now then
  call('ZREM', ACTIVE, v)
  call('ZADD', REVOKED, int(untl), v)
  put(v, to, key, untl, joined, session)
elseif to == 'rev' and st ~= 'rev' then
  put(v, to, key, untl, joined, session)
end
return { 'OK' }
