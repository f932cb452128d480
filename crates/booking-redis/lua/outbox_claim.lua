-- outbox_claim.lua: claims up to `limit` undelivered messages whose last
-- claim has ended (oldest claimable first, then in enqueue order), for
-- now + lease, counting an attempt each.
--
-- KEYS[1] state   KEYS[2] bodies   KEYS[3] pending
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)   ARGV[2] lease ms
-- ARGV[3] limit
--
-- Returns {'OK', {id, attempts, body, ...}}
local call = redis.call
local now
if ARGV[1] == 'store' then
  local t = call('TIME')
  now = t[1] * 1000 + math.floor(t[2] / 1000)
else
  now = tonumber(ARGV[1])
  if not now then
    error('booking: the time argument is neither store nor Unix ms: ' .. tostring(ARGV[1]))
  end
end
local untl = string.format('%d', now + tonumber(ARGV[2]))
local out = {}
for _, member in ipairs(call('ZRANGEBYSCORE', KEYS[3], '-inf', string.format('%d', now), 'LIMIT', 0, ARGV[3])) do
  local id = string.sub(member, 22)
  local state = call('HGET', KEYS[1], id)
  local a = string.find(state, '|', 1, true)
  local b = string.find(state, '|', a + 1, true)
  local attempts = tonumber(string.sub(state, a + 1, b - 1)) + 1
  call('HSET', KEYS[1], id, string.sub(state, 1, a) .. string.format('%d', attempts) .. string.sub(state, b))
  call('ZADD', KEYS[3], untl, member)
  out[#out + 1] = id
  out[#out + 1] = attempts
  out[#out + 1] = call('HGET', KEYS[2], id)
end
return { 'OK', out }
