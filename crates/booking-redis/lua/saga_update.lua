-- saga_update.lua: replaces an order if its stored version is the one
-- before the new one (compare-and-set), and moves it in the due index: out
-- of it once final, else claimable from its retry time or the end of a
-- worker's claim, whichever is later.
--
-- KEYS[1] orders   KEYS[2] due   KEYS[3] claims (hash: id -> claim end, Unix ms)
-- ARGV[1] order id   ARGV[2] the stored version expected
-- ARGV[3] "<new version>|<json>"   ARGV[4] 1 when final, else 0
-- ARGV[5] retry at (Unix ms, 0 for none)
--
-- Returns {'OK'} | {'NOT_FOUND'} | {'CONFLICT'}
local call = redis.call
local stored = call('HGET', KEYS[1], ARGV[1])
if not stored then
  return { 'NOT_FOUND' }
end
if string.sub(stored, 1, string.find(stored, '|', 1, true) - 1) ~= ARGV[2] then
  return { 'CONFLICT' }
end
call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] == '1' then
  call('ZREM', KEYS[2], ARGV[1])
  call('HDEL', KEYS[3], ARGV[1])
else
  local from = tonumber(ARGV[5])
  local claimed = tonumber(call('HGET', KEYS[3], ARGV[1]) or '0')
  if claimed > from then
    from = claimed
  end
  call('ZADD', KEYS[2], string.format('%d', from), ARGV[1])
end
return { 'OK' }
