-- rate_acquire.lua: one GCRA step on a key, exactly booking-core's
-- limits::gcra_step (a maximum, additions, a comparison):
--   base = max(stored TAT, now); next = base + increment;
--   allowed when next - now <= span, and then the TAT becomes next;
--   a refusal leaves the stored TAT alone.
--
-- KEYS[1] the key's TAT (a string, Unix µs)
-- ARGV[1] now ('store' = the server's TIME, else Unix µs)
-- ARGV[2] the request's increment (µs)   ARGV[3] the quota's span (µs)
-- ARGV[4] '1' to let the key expire when its burst is full again (under
--         the store's clock), '0' to keep it (an injected clock: the
--         server's clock says nothing about when that is)
--
-- Returns {allowed (0 or 1), the TAT after the step, now}: for a refusal,
-- the later of the stored TAT and now, as gcra_step reports it.
local now = now_us(ARGV[1])
local increment, span = tonumber(ARGV[2]), tonumber(ARGV[3])
local base = now
local stored = call('GET', KEYS[1])
if stored then
  base = math.max(tonumber(stored), now)
end
local next_tat = base + increment
if next_tat - now > span then
  return { 0, int(base), int(now) }
end
if ARGV[4] == '1' then
  -- Whole milliseconds, rounded up: the key outlives its last effect.
  call('SET', KEYS[1], int(next_tat), 'PX', int(math.floor((next_tat - now + 999) / 1000)))
else
  call('SET', KEYS[1], int(next_tat))
end
return { 1, int(next_tat), int(now) }
