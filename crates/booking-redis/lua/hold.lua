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
local now = now_ms(ARGV[1])
local owner, hold = ARGV[2], ARGV[3]
local ttl, maxhold = tonumber(ARGV[4]), tonumber(ARGV[5])
local maxown, maxtix = owner_limits(ARGV[6])
-- fields[1] is the seat hash's marker '#', read with the seats (one HMGET
-- for both, not show_check's HGET); the seats are fields[2..n + 1].
local fields = { '#' }
for i = 9, #ARGV do
  fields[i - 7] = ARGV[i]
end
local n = #fields - 1

-- The seats' states, read in one HMGET with the marker and the seats of the
-- owner's index.
local raws, live, held
if maxown or maxtix then
  held, live, raws = owner_index(KEYS[4], KEYS[2], KEYS[5], owner, now, fields)
else
  raws = batched('HMGET', KEYS[2], fields)
end
local fc = raws[1]
if not fc then
  return show_check(KEYS[1], KEYS[2])
end
if live then
  local over = owner_refusal(maxown, maxtix, KEYS[8], owner, held, n)
  if over then
    return over
  end
end

-- Available: absent, "<v>|A", or held ("<v>|H|...") with an expired hold.
local taken, maxv = nil, 0
for i = 2, n + 1 do
  local raw = raws[i]
  if raw then
    local p = find(raw, '|', 1, true)
    local k = string.byte(raw, p + 1)
    if not (k == 65 or (k == 72 and held_until(raw, p) <= now)) then
      taken = taken or {}
      taken[#taken + 1] = fields[i]
    end
    local v = tonumber(sub(raw, 1, p - 1))
    if v > maxv then
      maxv = v
    end
  end
end
if taken then
  return { 'SEATS_TAKEN', taken }
end

local v = maxv + 1
local untl = now + ttl
local score = int(untl)
local bit = held_bit(untl, tonumber(fc))
local enc, items
if n == 1 then
  enc = int(v) .. '|H|' .. owner .. '|' .. hold .. '|' .. score .. '|' .. int(now + maxhold) .. '|0|1'
  items = 's:' .. fields[2]
else
  enc = int(v) .. '|H|' .. owner .. '|' .. hold .. '|' .. score .. '|' .. int(now + maxhold) .. '|0|' .. int(n)
  items = 's:' .. table.concat(fields, ',', 2)
end
if n == 1 then
  -- One seat (the common case): the commands with their arguments, no
  -- tables.
  local id = fields[2]
  call('HSET', KEYS[2], id, enc)
  call('ZADD', KEYS[3], score, id)
  call('SETBIT', KEYS[7], id, bit)
  if live then
    owner_save(KEYS[4], live, { id }, ARGV[8])
  end
else
  local ids = {}
  -- One table for the HSET pairs, then for the ZADD pairs.
  local pairs_ = {}
  for i = 1, n do
    local id = fields[i + 1]
    ids[i] = id
    pairs_[2 * i - 1] = id
    pairs_[2 * i] = enc
  end
  batched('HSET', KEYS[2], pairs_)
  for i, id in ipairs(ids) do
    pairs_[2 * i - 1] = score
    pairs_[2 * i] = id
  end
  batched('ZADD', KEYS[3], pairs_)
  free_bits(KEYS[7], ids, bit)
  if live then
    owner_save(KEYS[4], live, ids, ARGV[8])
  end
end
emit(KEYS[1], KEYS[6], ARGV[7], 'held', hold, '', items, v)
return { 'OK', v, untl }
