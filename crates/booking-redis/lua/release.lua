-- release.lua: the owner releases a live seat hold.
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] sexp   KEYS[4] feed   KEYS[5] free
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] token version   ARGV[5] feed MAXLEN
-- ARGV[6..] seat ids, ascending, unique
--
-- Returns {'OK', version} | {'HOLD_EXPIRED'} | {'NOT_OWNER'} | {'STALE_TOKEN', current}
--       | {'UNKNOWN_SHOW'} | {'LOST'}
--
-- The show's existence (and its seat hash's marker) is checked only before
-- a refusal: a seat held under the token exists only in a show that exists
-- (the hold script checked it), and of a show that does not exist (or
-- whose seat hash was lost) every seat reads as absent, which no token
-- passes.
local now = now_ms(ARGV[1])
local owner, hold, version = ARGV[2], ARGV[3], tonumber(ARGV[4])
local ids, items = seat_list(6)

-- `check_holder` seat by seat. A seat that passes starts with
-- "<version>|H|<owner>|<hold>|", ends with "|<seats named>" and is held
-- past `now`: that is checked without decoding it; the first one that
-- does not is decoded for its refusal.
-- (ARGV[4] as sent: a version written otherwise than the scripts write it
-- fails the prefix and is decided by check_holder.)
local pre = ARGV[4] .. '|H|' .. owner .. '|' .. hold .. '|'
local post = #ids == 1 and '|1' or '|' .. int(#ids)
local at = #pre + 1
for _, raw in ipairs(batched('HMGET', KEYS[2], ids)) do
  if
    not (
      raw
      and find(raw, pre, 1, true) == 1
      and sub(raw, -#post) == post
      and tonumber(sub(raw, at, find(raw, '|', at, true) - 1)) > now
    )
  then
    local err = check_holder(seat_decode(raw), owner, hold, version, #ids, now)
    if err then
      return show_check(KEYS[1], KEYS[2]) or err
    end
  end
end
-- Every seat passed at the token's version: that is the highest.
local v = version + 1
local enc = int(v) .. '|A'
if #ids == 1 then
  call('HSET', KEYS[2], ids[1], enc)
  call('ZREM', KEYS[3], ids[1])
  call('SETBIT', KEYS[5], ids[1], '1')
else
  set_seats(KEYS[2], ids, enc)
  batched('ZREM', KEYS[3], ids)
  free_bits(KEYS[5], ids, '1')
end
emit(KEYS[1], KEYS[4], ARGV[5], 'released', hold, '', items, v)
return { 'OK', v }
