-- create.lua: create a show's inventory: every seat available (an absent
-- seat field means available at version 0 while the seat hash's marker is
-- there), every pool empty. The markers ('#' in `seats` and in `pools`)
-- are what tells a show whose hash was lost from one never touched.
--
-- KEYS[1] meta   KEYS[2] pools   KEYS[3] seats   KEYS[4] free (the free-seat
-- index: every seat's bit set)
-- ARGV[1] the show's specification (JSON)   ARGV[2] seat count
-- ARGV[3..] pool capacities, by pool id
--
-- Returns {'OK'} | {'EXISTS'} | {'LOST'} (the show's meta is gone but
-- other keys of it are left: its data was lost, not deleted)
if call('EXISTS', KEYS[1]) == 1 then
  return { 'EXISTS' }
end
if call('EXISTS', KEYS[2], KEYS[3], KEYS[4]) > 0 then
  return { 'LOST' }
end
call('HSET', KEYS[1], 'spec', ARGV[1], 'seats', ARGV[2], 'pools', int(#ARGV - 2), 'seq', 0)
call('HSET', KEYS[3], '#', '0')
local n = tonumber(ARGV[2])
local bitmap = string.rep('\255', math.floor(n / 8))
if n % 8 > 0 then
  bitmap = bitmap .. string.char(256 - 2 ^ (8 - n % 8))
end
call('SET', KEYS[4], bitmap)
local fields = { '#', '1' }
for i = 3, #ARGV do
  local p = int(i - 3)
  fields[#fields + 1] = 'c:' .. p
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = 's:' .. p
  fields[#fields + 1] = '0'
  fields[#fields + 1] = 'h:' .. p
  fields[#fields + 1] = '0'
  fields[#fields + 1] = 'v:' .. p
  fields[#fields + 1] = '0'
end
batched('HSET', KEYS[2], fields)
return { 'OK' }
