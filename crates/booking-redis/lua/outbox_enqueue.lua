-- outbox_enqueue.lua: adds a message unless one with its id exists
-- (delivered or not).
--
-- KEYS[1] state (hash: id -> "<seq>|<attempts>|<delivered 0 or 1>")
-- KEYS[2] bodies (hash: id -> JSON of topic and payload)
-- KEYS[3] pending (sorted set of "<seq, 20 digits>|<id>" by the time the
-- message may be claimed)   KEYS[4] the sequence counter
-- ARGV[1] id   ARGV[2] body
--
-- Returns {'OK'}
local call = redis.call
if call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return { 'OK' }
end
local seq = call('INCR', KEYS[4])
call('HSET', KEYS[1], ARGV[1], string.format('%d', seq) .. '|0|0')
call('HSET', KEYS[2], ARGV[1], ARGV[2])
call('ZADD', KEYS[3], 0, string.format('%020d', seq) .. '|' .. ARGV[1])
return { 'OK' }
