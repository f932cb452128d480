-- archive.lua: mark a show archived (it is no longer listed; everything
-- else answers as before). The library then removes the show from the
-- prefix's show index (another key, on another Cluster slot).
--
-- KEYS[1] meta
--
-- Returns {'OK'} | {'UNKNOWN_SHOW'}
if call('EXISTS', KEYS[1]) == 0 then
  return { 'UNKNOWN_SHOW' }
end
call('HSET', KEYS[1], 'archived', '1')
return { 'OK' }
