-- hold.lua: hold named seats for one owner, all or none.
--
-- KEYS[1] meta    KEYS[2] seats   KEYS[3] sexp (seat expiries)
-- KEYS[4] own:<owner> (the owner's index)   KEYS[5] pholds   KEYS[6] feed
-- KEYS[7] free (the free-seat index)   KEYS[8] osold (units sold per owner)
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] ttl ms   ARGV[5] max hold lifetime ms
-- ARGV[6] per-owner limits "<held>,<tickets>" (each 'none' = no limit)   ARGV[7] feed MAXLEN
-- ARGV[8] owner index lifetime ms (0 = no expiry)
-- ARGV[9..] seat ids, ascending, unique, within the show
--
-- Returns {'OK', version, until} | {'HELD_PER_OWNER', would_hold} | {'TICKETS_PER_OWNER', would_have}
--       | {'SEATS_TAKEN', {seat...}} | {'UNKNOWN_SHOW'} | {'LOST'}
local refused, fc = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
local now = now_ms(ARGV[1])
local owner, hold = ARGV[2], ARGV[3]
local ttl, maxhold = tonumber(ARGV[4]), tonumber(ARGV[5])
local maxown, maxtix = owner_limits(ARGV[6])
local ids = {}
for i = 9, #ARGV do
  ids[#ids + 1] = ARGV[i]
end
local n = #ids

-- The seats' states, read in one HMGET with the seats of the owner's index.
local raws, live
if maxown or maxtix then
  local held
  held, live, raws = owner_index(KEYS[4], KEYS[2], KEYS[5], owner, now, ids)
  local over = owner_refusal(maxown, maxtix, KEYS[8], owner, held, n)
  if over then
    return over
  end
else
  raws = batched('HMGET', KEYS[2], ids)
end

-- Available: absent, "<v>|A", or held ("<v>|H|...") with an expired hold.
local taken, maxv = {}, 0
for i = 1, n do
  local raw = raws[i]
  if raw then
    local p = find(raw, '|', 1, true)
    local k = string.byte(raw, p + 1)
    if not (k == 65 or (k == 72 and held_until(raw, p) <= now)) then
      taken[#taken + 1] = ids[i]
    end
    local v = tonumber(sub(raw, 1, p - 1))
    if v > maxv then
      maxv = v
    end
  end
end
if #taken > 0 then
  return { 'SEATS_TAKEN', taken }
end

local v = maxv + 1
local untl = now + ttl
local score = int(untl)
local enc = int(v) .. '|H|' .. owner .. '|' .. hold .. '|' .. score .. '|' .. int(now + maxhold) .. '|0|' .. int(n)
-- One table for the HSET pairs, then for the ZADD pairs.
local pairs_ = {}
for i, id in ipairs(ids) do
  pairs_[2 * i - 1] = id
  pairs_[2 * i] = enc
end
batched('HSET', KEYS[2], pairs_)
for i, id in ipairs(ids) do
  pairs_[2 * i - 1] = score
  pairs_[2 * i] = id
end
batched('ZADD', KEYS[3], pairs_)
free_bits(KEYS[7], ids, held_bit(untl, tonumber(fc)))
if live then
  owner_save(KEYS[4], live, ids, tonumber(ARGV[8]))
end
emit(KEYS[1], KEYS[6], ARGV[7], 'held', hold, '', 's:' .. table.concat(ids, ','), v)
return { 'OK', v, untl }
