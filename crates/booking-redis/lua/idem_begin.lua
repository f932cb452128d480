-- idem_begin.lua: take an idempotency key for a request, or answer why
-- not, atomically: the first request with the key runs; a request with
-- another fingerprint is refused; a finished key is replayed; a key held
-- under a live lease answers in progress; a key whose lease ran out (or
-- was released) is taken over, resumed.
--
-- KEYS[1] the key's record   KEYS[2] its bucket's index (sorted set of
-- record keys by creation time, for reap)
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)
-- ARGV[2] fingerprint   ARGV[3] a new lease id   ARGV[4] lease ms
-- ARGV[5] retention ms
--
-- Returns {'RUN', resumed (0 or 1)} | {'REPLAY', status, body}
--       | {'MISMATCH'} | {'IN_PROGRESS', ms until the lease ends}
local store = ARGV[1] == 'store'
local now = now_ms(ARGV[1])
local lease_ms, retention = tonumber(ARGV[4]), tonumber(ARGV[5])
local rec = call('HMGET', KEYS[1], 'fp', 'created', 'until', 'status', 'body')
local fp, created, untl, status, body = rec[1], rec[2], rec[3], rec[4], rec[5]
if past_retention(created, retention, now) then
  call('DEL', KEYS[1])
  fp = false
end
if not fp then
  call('HSET', KEYS[1], 'fp', ARGV[2], 'created', int(now), 'lease', ARGV[3], 'until', int(now + lease_ms))
  if store then
    call('PEXPIRE', KEYS[1], ARGV[5])
    -- Entries of records that expired by themselves.
    call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now - retention))
  end
  call('ZADD', KEYS[2], int(now), KEYS[1])
  return { 'RUN', 0 }
end
if fp ~= ARGV[2] then
  return { 'MISMATCH' }
end
if status then
  return { 'REPLAY', tonumber(status), body }
end
if untl and tonumber(untl) > now then
  return { 'IN_PROGRESS', tonumber(untl) - now }
end
-- The holder's lease ran out, or it released the key: take it over.
call('HSET', KEYS[1], 'lease', ARGV[3], 'until', int(now + lease_ms))
return { 'RUN', 1 }
