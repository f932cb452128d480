-- ticket_register.lua: record a ticket's version (issue or reissue),
-- atomically, as booking_core::tickets::checkin::decide_register decides:
-- a new ticket is recorded; the same version and holder again changes
-- nothing; an older version, or the current version to another holder, is
-- refused; a newer version replaces the current one unless the ticket was
-- admitted. The caller has refused version 0.
--
-- A ticket's record is a hash: v (current version), holder (32 hex
-- digits), and once admitted av (version admitted), at (Unix ms), dev,
-- gate. The show's reissued tickets are a hash: ticket -> current version.
--
-- KEYS[1] the ticket's record   KEYS[2] the show's reissued tickets
-- ARGV[1] ticket id (32 hex digits)   ARGV[2] version   ARGV[3] holder
--
-- Returns {'NEW'} | {'UNCHANGED'} | {'REISSUED', previous version}
--       | {'SUPERSEDED', current version} | {'NOT_HOLDER'}
--       | {'ADMITTED', version, at, device, gate}
local rec = redis.call('HMGET', KEYS[1], 'v', 'holder', 'av', 'at', 'dev', 'gate')
local current, version = tonumber(rec[1]), tonumber(ARGV[2])
if not current then
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'holder', ARGV[3])
  if version > 1 then
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  end
  return { 'NEW' }
end
if version < current then
  return { 'SUPERSEDED', current }
end
if version == current then
  if rec[2] == ARGV[3] then
    return { 'UNCHANGED' }
  end
  return { 'NOT_HOLDER' }
end
if rec[4] then
  return { 'ADMITTED', tonumber(rec[3]), tonumber(rec[4]), rec[5], rec[6] }
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'holder', ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return { 'REISSUED', current }
