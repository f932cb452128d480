-- verify.lua: check a seat hold as release would, changing nothing.
--
-- KEYS[1] meta   KEYS[2] seats
-- ARGV[1] now (Unix ms, '' = server TIME)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] token version   ARGV[5..] seat ids, ascending, unique
--
-- Returns {'OK', until, renewals} | {'EXPIRED'} | {'MISMATCH'}
--       | {'NOTOWNER'} | {'STALE', current} | {'NOSHOW'} | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
local owner, hold, version = ARGV[2], ARGV[3], tonumber(ARGV[4])
local ids = seat_list(5)
local states = read_seats(KEYS[2], ids)
for _, s in ipairs(states) do
  local err = check_holder(s, owner, hold, version, #ids, now)
  if err then
    return err
  end
end
return { 'OK', states[1].untl, states[1].renewals }
