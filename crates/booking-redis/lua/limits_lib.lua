-- limits_lib.lua: helpers prepended to the limits scripts (`rate_*.lua`,
-- `blacklist_*.lua`). Times are Unix microseconds: Lua numbers are
-- doubles, exact for integers below 2^53, and booking-core keeps every
-- time and span a script sees below that (limits::MAX_NOW_MICROS).

local call = redis.call

local function int(n)
  return string.format('%d', n)
end

-- The decision time in Unix µs (docs/design.md, I8): 'store' for the Redis
-- server's own clock, else the injected clock's time.
local function now_us(arg)
  if arg == 'store' then
    local t = call('TIME')
    return tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  local us = tonumber(arg)
  if not us then
    error('booking: the time argument is neither store nor Unix µs: ' .. tostring(arg))
  end
  return us
end

-- ---------------------------------------------------------------------------
