-- idem_reap.lua: deletes the records among KEYS[2..] created at or before
-- the cutoff, and drops them all from the bucket's index (a record
-- created again since is put back with its new time).
--
-- KEYS[1] the bucket's index   KEYS[2..] records listed in it up to the cutoff
-- ARGV[1] cutoff (Unix ms)
--
-- Returns {'OK', deleted}
local cutoff = tonumber(ARGV[1])
local deleted = 0
for i = 2, #KEYS do
  local created = call('HGET', KEYS[i], 'created')
  if created and tonumber(created) <= cutoff then
    call('DEL', KEYS[i])
    deleted = deleted + 1
    call('ZREM', KEYS[1], KEYS[i])
  elseif created then
    call('ZADD', KEYS[1], created, KEYS[i])
  else
    call('ZREM', KEYS[1], KEYS[i])
  end
end
return { 'OK', deleted }
