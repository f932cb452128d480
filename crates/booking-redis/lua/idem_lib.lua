-- idem_lib.lua: helpers prepended to the idempotency-key scripts
-- (`idem_*.lua`). A key's record is a hash:
--   fp       the request's fingerprint (64 hex digits)
--   created  when the key was first used (Unix ms, by the decision time)
--   lease    the id of the latest lease given (32 hex digits): kept once
--            given, so that a later run knows it resumes
--   until    while a request holds the key: when its lease ends (Unix ms)
--   status, body   the final response, once finished
-- Under the store's clock the hash expires by itself (PEXPIRE to the
-- retention, set when the key is first used); under an injected clock it
-- has no TTL, and a record past its retention by the injected time reads
-- as absent (and is deleted by the script that finds it, or by reap).

local call = redis.call

local function int(n)
  return string.format('%d', n)
end

-- The decision time (docs/design.md, I8): 'store' for the Redis server's
-- own clock, else the injected clock's Unix ms.
local function now_ms(arg)
  if arg == 'store' then
    local t = call('TIME')
    return t[1] * 1000 + math.floor(t[2] / 1000)
  end
  local ms = tonumber(arg)
  if not ms then
    error('booking: the time argument is neither store nor Unix ms: ' .. tostring(arg))
  end
  return ms
end

-- Whether a record created at `created` (a string, or false) is past its
-- retention at `now`.
local function past_retention(created, retention, now)
  return created and tonumber(created) + retention <= now
end

-- ---------------------------------------------------------------------------
