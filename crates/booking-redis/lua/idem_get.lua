-- idem_get.lua: a key's record, read-only; a record past its retention
-- reads as absent.
--
-- KEYS[1] the key's record
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)   ARGV[2] retention ms
--
-- Returns {'NONE'} | {'RECORD', fingerprint, created, until or '', status or '', body or ''}
local now = now_ms(ARGV[1])
local rec = call('HMGET', KEYS[1], 'fp', 'created', 'until', 'status', 'body')
if not rec[1] or past_retention(rec[2], tonumber(ARGV[2]), now) then
  return { 'NONE' }
end
return { 'RECORD', rec[1], rec[2], rec[3] or '', rec[4] or '', rec[5] or '' }
