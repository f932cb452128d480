-- best.lua: hold the best available seats for one owner, picked and held
-- in one atomic step, exactly as `booking_core::best::pick_best` would
-- pick from the show's state at this instant.
--
-- The pick reads the free-seat index (`free`, one bit per seat, see
-- lib.lua) rather than the seat hash: first the index is brought to now
-- (the bits of the holds that expired, or came back to life under an
-- injected clock set back, since the index's time: found in `sexp`, each
-- flipped once), then rows without a free seat are jumped over (BITPOS
-- finds the next free seat, searched by the server), and only rows with a
-- free seat are read (GETRANGE of their bytes) and decoded. The work is
-- bounded by the rows it has to look into, never by the seats already
-- taken, and nothing is sent back but the answer.
--
-- KEYS[1] meta    KEYS[2] seats   KEYS[3] sexp (seat expiries)
-- KEYS[4] own:<owner> (the owner's index)   KEYS[5] pholds   KEYS[6] feed
-- KEYS[7] free (the free-seat index)   KEYS[8] osold (units sold per owner)
-- ARGV[1] now ('store' = the server's TIME, else Unix ms)   ARGV[2] owner   ARGV[3] hold id
-- ARGV[4] ttl ms   ARGV[5] max hold lifetime ms
-- ARGV[6] per-owner limits "<held>,<tickets>" (each 'none' = no limit)   ARGV[7] feed MAXLEN
-- ARGV[8] owner index lifetime ms (0 = no expiry)   ARGV[9] quantity
-- ARGV[10] the rows to pick from, best first, as "first:len:count,..."
--          (count consecutive rows of len seats from seat first)
-- ARGV[11] the seats of the price category asked for, as a bitmap ('' =
--          any category)
--
-- Returns {'OK', version, until, {seat...}} | {'HELD_PER_OWNER', would_hold}
--       | {'TICKETS_PER_OWNER', would_have}
--       | {'NO_SEATS_AVAILABLE'} | {'SEATS_TAKEN', {seat...}} (the index disagrees with the
--       seats: nothing held) | {'UNKNOWN_SHOW'} | {'LOST'}
local refused, fc = show_check(KEYS[1], KEYS[2])
if refused then
  return refused
end
fc = tonumber(fc)
local now = now_ms(ARGV[1])
local owner, hold = ARGV[2], ARGV[3]
local ttl, maxhold = tonumber(ARGV[4]), tonumber(ARGV[5])
local maxown, maxtix = owner_limits(ARGV[6])
local n = tonumber(ARGV[9])
local mask = ARGV[11]

local live
if maxown or maxtix then
  local held
  held, live = owner_index(KEYS[4], KEYS[2], KEYS[5], owner, now, {})
  local over = owner_refusal(maxown, maxtix, KEYS[8], owner, held, n)
  if over then
    return over
  end
end

-- The index, brought to now.
if now ~= fc then
  local lo, hi = fc, now
  if now < fc then
    lo, hi = now, fc
  end
  local ids = call('ZRANGEBYSCORE', KEYS[3], '(' .. int(lo), int(hi))
  if #ids > 0 then
    local on, off = {}, {}
    for i, raw in ipairs(batched('HMGET', KEYS[2], ids)) do
      local p = raw and find(raw, '|', 1, true)
      if p and string.byte(raw, p + 1) == 72 then
        if held_until(raw, p) <= now then
          on[#on + 1] = ids[i]
        else
          off[#off + 1] = ids[i]
        end
      end
    end
    free_bits(KEYS[7], on, '1')
    free_bits(KEYS[7], off, '0')
  end
  call('HSET', KEYS[2], '#', int(now))
end
local band, floor, byte = bit.band, math.floor, string.byte
local weight = { 128, 64, 32, 16, 8, 4, 2, 1 }
local any_category = mask == ''
local function in_category(s)
  local b = byte(mask, floor(s / 8) + 1)
  return b ~= nil and band(b, weight[s % 8 + 1]) ~= 0
end

-- The rows, best first, as runs of consecutive rows of one length.
local runs = {}
for first, len, count in string.gmatch(ARGV[10], '(%d+):(%d+):(%d+)') do
  runs[#runs + 1] = { tonumber(first), tonumber(len), tonumber(count) }
end

-- The first free seat at or after seat `from` up to seat `to`, or nil
-- (BITPOS: the bitmap is searched by the server, not copied into Lua).
local function next_free(from, to)
  local p = call('BITPOS', KEYS[7], 1, from, to, 'BIT')
  if p < 0 then
    return nil
  end
  return p
end

-- The free and eligible flags of the `len` seats from `first` (row
-- positions 0..len-1), read with one GETRANGE.
local function decode(first, len)
  local b0 = floor(first / 8)
  local bytes = call('GETRANGE', KEYS[7], b0, floor((first + len - 1) / 8))
  local free, eligible, count = {}, {}, 0
  for pos = 0, len - 1 do
    local s = first + pos
    local b = byte(bytes, floor(s / 8) - b0 + 1)
    local f = b ~= nil and band(b, weight[s % 8 + 1]) ~= 0
    free[pos] = f
    local e = f and (any_category or in_category(s))
    eligible[pos] = e
    if e then
      count = count + 1
    end
  end
  return free, eligible, count
end

-- Calls `visit(first, len)` on each row, best first, that has a free seat
-- (rows without one are jumped over with BITPOS), until it returns true.
local function rows_with_free_seats(min_len, visit)
  for _, run in ipairs(runs) do
    local first, len, count = run[1], run[2], run[3]
    if len >= min_len and len > 0 then
      local last = first + len * count - 1
      local r = 0
      while r < count do
        local p = next_free(first + r * len, last)
        if not p then
          break
        end
        r = floor((p - first) / len)
        if visit(first + r * len, len) then
          return true
        end
        r = r + 1
      end
    end
  end
  return false
end

local function pick()
  -- 1. and 2.: adjacent seats in one row, the best row without a
  -- stranded seat, else the first row with a block at all; within a row,
  -- the block nearest the middle.
  local found, fallback
  rows_with_free_seats(n, function(first, len)
    local free, eligible, count = decode(first, len)
    if count < n then
      return false
    end
    local best, best_strands, best_dist
    local run = 0
    for pos = 0, len - 1 do
      if eligible[pos] then
        run = run + 1
      else
        run = 0
      end
      if run >= n then
        local start = pos + 1 - n
        local strands = (start >= 2 and free[start - 1] and not free[start - 2])
          or (start + n + 1 < len and free[start + n] and not free[start + n + 1])
        strands = strands and true or false
        local dist = math.abs(2 * start + n - len)
        if best == nil or (best_strands and not strands) or (best_strands == strands and dist < best_dist) then
          best, best_strands, best_dist = start, strands, dist
        end
      end
    end
    if best == nil then
      return false
    end
    if not best_strands then
      found = first + best
      return true
    end
    fallback = fallback or (first + best)
    return false
  end)
  if found or fallback then
    return found or fallback
  end
  -- 3.: the first free seats in layout order.
  local out = {}
  rows_with_free_seats(1, function(first, len)
    local _, eligible = decode(first, len)
    for pos = 0, len - 1 do
      if eligible[pos] then
        out[#out + 1] = int(first + pos)
        if #out == n then
          return true
        end
      end
    end
    return false
  end)
  if #out == n then
    return nil, out
  end
  return nil, nil
end

if call('EXISTS', KEYS[7]) == 0 then
  return { 'LOST' }
end
local start, scattered = pick()
local ids = scattered
if start then
  ids = {}
  for i = 1, n do
    ids[i] = int(start + i - 1)
  end
end
if not ids then
  return { 'NO_SEATS_AVAILABLE' }
end

-- Hold them, as hold.lua does (checking their states: the index must
-- never make a taken seat look free).
local maxv = 0
for i, raw in ipairs(batched('HMGET', KEYS[2], ids)) do
  if raw then
    local p = find(raw, '|', 1, true)
    local k = string.byte(raw, p + 1)
    if not (k == 65 or (k == 72 and held_until(raw, p) <= now)) then
      return { 'SEATS_TAKEN', ids }
    end
    local v = tonumber(sub(raw, 1, p - 1))
    if v > maxv then
      maxv = v
    end
  end
end
local v = maxv + 1
local untl = now + ttl
local score = int(untl)
local enc = int(v) .. '|H|' .. owner .. '|' .. hold .. '|' .. score .. '|' .. int(now + maxhold) .. '|0|' .. int(n)
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
free_bits(KEYS[7], ids, held_bit(untl, now))
if live then
  owner_save(KEYS[4], live, ids, ARGV[8])
end
emit(KEYS[1], KEYS[6], ARGV[7], 'held', hold, '', 's:' .. table.concat(ids, ','), v)
return { 'OK', v, untl, ids }
