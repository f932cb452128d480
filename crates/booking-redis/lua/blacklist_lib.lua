-- blacklist_lib.lua: helpers of the blacklist scripts (`blacklist_*.lua`),
-- after limits_lib.lua.

-- Whether a blacklist entry's stored value ('<added>|<reason>' or
-- '<added>;<expires>|<reason>', times in Unix ms) still refuses at now_ms.
local function live(value, now_ms)
  local head = string.match(value, '^([^|]*)|')
  local expires = head and string.match(head, ';(%d+)$')
  return expires == nil or tonumber(expires) > now_ms
end

-- Deletes up to 100 blacklist entries lapsed at now_ms (entries hash,
-- order set, expiry set).
local function forget_lapsed(entries, order, expiring, now_ms)
  local lapsed = call('ZRANGEBYSCORE', expiring, '-inf', now_ms, 'LIMIT', 0, 100)
  for _, field in ipairs(lapsed) do
    call('HDEL', entries, field)
    call('ZREM', order, field)
    call('ZREM', expiring, field)
  end
end

-- ---------------------------------------------------------------------------
