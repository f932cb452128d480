-- saga_claim.lua: claims up to `limit` unfinished orders whose retry time
-- has come and whose last claim has ended, for one worker until now +
-- lease; two claimers get disjoint sets (the script runs atomically).
--
-- KEYS[1] orders   KEYS[2] due   KEYS[3] claims
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)   ARGV[2] lease ms
-- ARGV[3] limit
--
-- Returns {'OK', {"<version>|<json>", ...}}
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
for _, id in ipairs(call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now), 'LIMIT', 0, ARGV[3])) do
  call('HSET', KEYS[3], id, untl)
  call('ZADD', KEYS[2], untl, id)
  out[#out + 1] = call('HGET', KEYS[1], id)
end
return { 'OK', out }
