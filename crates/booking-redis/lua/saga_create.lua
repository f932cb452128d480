-- saga_create.lua: records a new order (version 1) unless one with its id
-- is recorded; indexes it by id, by buyer and, while unfinished, by the
-- time from which a completer may claim it.
--
-- KEYS[1] orders (hash: id -> "<version>|<json>")   KEYS[2] ids (sorted set,
-- score 0: every order id, in id order)   KEYS[3] the buyer's orders (sorted
-- set by creation time)   KEYS[4] due (sorted set: unfinished orders by the
-- time they may be claimed)
-- ARGV[1] order id   ARGV[2] "1|<json>"   ARGV[3] created (Unix ms)
-- ARGV[4] 1 when the order is final, else 0   ARGV[5] retry at (Unix ms, 0
-- for none)
--
-- Returns {'CREATED'} | {'EXISTS', "<version>|<json>"}
local call = redis.call
local stored = call('HGET', KEYS[1], ARGV[1])
if stored then
  return { 'EXISTS', stored }
end
call('HSET', KEYS[1], ARGV[1], ARGV[2])
call('ZADD', KEYS[2], 0, ARGV[1])
call('ZADD', KEYS[3], ARGV[3], ARGV[1])
if ARGV[4] == '0' then
  call('ZADD', KEYS[4], ARGV[5], ARGV[1])
end
return { 'CREATED' }
