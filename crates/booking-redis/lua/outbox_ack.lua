-- outbox_ack.lua: marks a message delivered: it is never claimed again,
-- and enqueuing its id again changes nothing.
--
-- KEYS[1] state   KEYS[2] pending
-- ARGV[1] id
--
-- Returns {'OK'} | {'NOT_FOUND'}
local call = redis.call
local state = call('HGET', KEYS[1], ARGV[1])
if not state then
  return { 'NOT_FOUND' }
end
local a = string.find(state, '|', 1, true)
local b = string.find(state, '|', a + 1, true)
call('HSET', KEYS[1], ARGV[1], string.sub(state, 1, b) .. '1')
call('ZREM', KEYS[2], string.format('%020d', tonumber(string.sub(state, 1, a - 1))) .. '|' .. ARGV[1])
return { 'OK' }
