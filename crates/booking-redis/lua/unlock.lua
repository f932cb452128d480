-- unlock.lua: release seat locks taken with a token; a lock taken by
-- someone else since (after this one expired) is left alone.
--
-- KEYS[1..n] the seats' lock keys (`lock:<seat>` of one show)
-- ARGV[1] token
--
-- Returns {'OK', released}
local mine = ARGV[1] .. '|'
local released = 0
for i = 1, #KEYS do
  local held = redis.call('GET', KEYS[i])
  if held and string.sub(held, 1, #mine) == mine then
    redis.call('DEL', KEYS[i])
    released = released + 1
  end
end
return { 'OK', released }
