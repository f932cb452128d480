-- snapshot.lua: the raw state of a show at one instant, for the library to
-- decode (a snapshot, or the free seats that best-available picks from).
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] pools   KEYS[4] pholds   KEYS[5] pexp
-- KEYS[6] own:<owner> (the owner's index; any key of the show when none)
-- ARGV[1] now (Unix ms, '' = server TIME)
-- ARGV[2] owner whose live holdings to count ('' = none)
-- ARGV[3] 1 to include pools, 0 not
--
-- Returns {'OK', now, held_by_owner, {seat, state, ...},
--          {pools field, value, ...}, {expired pool hold record...}}
--       | {'NOSHOW'} | {'LOST'}
local refused = show_check(KEYS[1], KEYS[2]) or show_check(KEYS[1], KEYS[3])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
local held = 0
if ARGV[2] ~= '' then
  held = owner_index(KEYS[6], KEYS[2], KEYS[4], ARGV[2], now, {})
end
local pools, expired = {}, {}
if ARGV[3] == '1' then
  pools = call('HGETALL', KEYS[3])
  local ids = call('ZRANGEBYSCORE', KEYS[5], '-inf', int(now))
  for _, id in ipairs(ids) do
    local raw = call('HGET', KEYS[4], id)
    if raw then
      expired[#expired + 1] = raw
    end
  end
end
return { 'OK', now, held, call('HGETALL', KEYS[2]), pools, expired }
