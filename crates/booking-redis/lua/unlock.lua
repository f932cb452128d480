-- unlock.lua: release seat locks taken with a token; a lock that expired and
-- was taken by someone else since is left alone.
--
-- KEYS[1..n] the seats' lock keys (`lock:<seat>` of one show)
-- ARGV[1] token
--
-- Returns {'OK', released}
local released = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    released = released + 1
  end
end
return { 'OK', released }
