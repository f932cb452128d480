-- ticket_checkin.lua: admit a ticket once, atomically, as
-- booking_core::tickets::checkin::decide_check_in decides (in this order:
-- unknown ticket, older version, newer version, holder, earlier
-- admission). The record's layout is in ticket_register.lua. The caller
-- has validated the version and the device and gate names.
--
-- KEYS[1] the ticket's record
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)
-- ARGV[2] version   ARGV[3] holder (32 hex digits)   ARGV[4] device
-- ARGV[5] gate
--
-- Returns {'OK', at} | {'UNKNOWN'} | {'SUPERSEDED', current version}
--       | {'UNKNOWN_VERSION', current version} | {'NOT_HOLDER'}
--       | {'ADMITTED', version, at, device, gate}
local rec = redis.call('HMGET', KEYS[1], 'v', 'holder', 'av', 'at', 'dev', 'gate')
local current, version = tonumber(rec[1]), tonumber(ARGV[2])
if not current then
  return { 'UNKNOWN' }
end
if version < current then
  return { 'SUPERSEDED', current }
end
if version > current then
  return { 'UNKNOWN_VERSION', current }
end
if rec[2] ~= ARGV[3] then
  return { 'NOT_HOLDER' }
end
if rec[4] then
  return { 'ADMITTED', tonumber(rec[3]), tonumber(rec[4]), rec[5], rec[6] }
end
local now
if ARGV[1] == 'store' then
  local t = redis.call('TIME')
  now = t[1] * 1000 + math.floor(t[2] / 1000)
else
  now = tonumber(ARGV[1])
end
local at = string.format('%d', now)
redis.call('HSET', KEYS[1], 'av', ARGV[2], 'at', at, 'dev', ARGV[4], 'gate', ARGV[5])
return { 'OK', at }
