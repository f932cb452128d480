-- snapshot.lua: the raw state of a show at one instant, for the library to
-- decode.
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] pools   KEYS[4] pholds   KEYS[5] pexp
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] 1 to include pools, 0 not
--
-- The pool counters are kept at the time in the pools hash's marker (see
-- pool.lua); the holds whose expiry lies between that time and now are
-- returned, to be applied by the reader (nothing is written here).
--
-- Returns {'OK', now, 0, {seat, state, ...}, {pools field, value, ...},
--          {pool hold record expired since...}, {pool hold record live again...}}
--       | {'NOSHOW'} | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local refused_pools, t = show_check(KEYS[1], KEYS[3])
if refused_pools then
  return refused_pools
end
local now = now_ms(ARGV[1])
local pools, expired, revived = {}, {}, {}
if ARGV[2] == '1' then
  pools = call('HGETALL', KEYS[3])
  t = tonumber(t)
  if now ~= t then
    local lo, hi = t, now
    if now < t then
      lo, hi = now, t
    end
    local ids = call('ZRANGEBYSCORE', KEYS[5], '(' .. int(lo), int(hi))
    for _, raw in ipairs(batched('HMGET', KEYS[4], ids)) do
      if raw then
        -- "<pool>|<owner>|<quantity>|<until>|..."
        local a = find(raw, '|', 1, true)
        local b = find(raw, '|', a + 1, true)
        local c = find(raw, '|', b + 1, true)
        local d = find(raw, '|', c + 1, true)
        if tonumber(sub(raw, c + 1, d - 1)) <= now then
          expired[#expired + 1] = raw
        else
          revived[#revived + 1] = raw
        end
      end
    end
  end
end
return { 'OK', now, 0, call('HGETALL', KEYS[2]), pools, expired, revived }
