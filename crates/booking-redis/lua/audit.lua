-- audit.lua: everything a show records, at one instant, for the library
-- to decode.
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] pools   KEYS[4] pholds   KEYS[5] psales
-- KEYS[6] orders
-- ARGV[1] now (Unix ms, '' = server TIME)
--
-- Returns {'OK', now, {seat, state, ...}, {pools field, value, ...},
--          {pool hold, record, ...}, {pool sale field, entries, ...},
--          {order, sale record, ...}} | {'NOSHOW'} | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2]) or show_check(KEYS[1], KEYS[3])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
return {
  'OK',
  now,
  call('HGETALL', KEYS[2]),
  call('HGETALL', KEYS[3]),
  call('HGETALL', KEYS[4]),
  call('HGETALL', KEYS[5]),
  call('HGETALL', KEYS[6]),
}
