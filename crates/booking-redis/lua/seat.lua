-- seat.lua: seat-state helpers (after lib.lua) for the scripts that act on
-- named seats.

-- Stores `enc` as the state of every seat of `ids` (one HSET per 500 seats).
local function set_seats(seats_key, ids, enc)
  local hpairs = {}
  for i, id in ipairs(ids) do
    hpairs[2 * i - 1] = id
    hpairs[2 * i] = enc
  end
  batched('HSET', seats_key, hpairs)
end

-- A stored seat's state as a table (absent = available at version 0).
local function seat_decode(raw)
  if not raw then
    return { v = 0, k = 'A' }
  end
  local p = find(raw, '|', 1, true)
  local k = sub(raw, p + 1, p + 1)
  local s = { v = tonumber(sub(raw, 1, p - 1)), k = k }
  if k == 'H' then
    local q = find(raw, '|', p + 70, true)
    local r = find(raw, '|', q + 1, true)
    local u = find(raw, '|', r + 1, true)
    s.owner = sub(raw, p + 3, p + 34)
    s.hold = sub(raw, p + 36, p + 67)
    s.untl = tonumber(sub(raw, p + 69, q - 1))
    s.deadline = tonumber(sub(raw, q + 1, r - 1))
    s.renewals = tonumber(sub(raw, r + 1, u - 1))
    s.size = tonumber(sub(raw, u + 1))
  elseif k == 'S' then
    s.owner = sub(raw, p + 3, p + 34)
    s.order = sub(raw, p + 36)
  end
  return s
end

local function seat_encode(s)
  if s.k == 'H' then
    return int(s.v) .. '|H|' .. s.owner .. '|' .. s.hold .. '|' .. int(s.untl) .. '|' .. int(s.deadline) .. '|' ..
      int(s.renewals) .. '|' .. int(s.size)
  elseif s.k == 'S' then
    return int(s.v) .. '|S|' .. s.owner .. '|' .. s.order
  end
  return int(s.v) .. '|' .. s.k
end

-- The seat ids ARGV[first..], as a list and joined for the change feed
-- ("s:1,2,3").
local function seat_list(first)
  local last = #ARGV
  if last == first then
    return { ARGV[first] }, 's:' .. ARGV[first]
  end
  local ids = {}
  for i = first, last do
    ids[#ids + 1] = ARGV[i]
  end
  return ids, 's:' .. table.concat(ids, ',')
end

-- Reads the seats `ids` (one HMGET); returns their states and the highest
-- version among them.
local function read_seats(seats_key, ids)
  local states = {}
  local maxv = 0
  for i, raw in ipairs(batched('HMGET', seats_key, ids)) do
    local s = seat_decode(raw)
    states[i] = s
    if s.v > maxv then
      maxv = s.v
    end
  end
  return states, maxv
end

-- The holder checks of the seat state machine, in the model's order:
-- under this hold at all, the token names the whole hold (`named` seats),
-- owner, version (fencing token), expiry.
local function check_holder(s, owner, hold, version, named, now)
  if s.k ~= 'H' or s.hold ~= hold then
    return { 'HOLD_EXPIRED' }
  end
  if s.size ~= named then
    return { 'TOKEN_MISMATCH' }
  end
  if s.owner ~= owner then
    return { 'NOT_OWNER' }
  end
  if s.v ~= version then
    return { 'STALE_TOKEN', int(s.v) }
  end
  if s.untl <= now then
    return { 'HOLD_EXPIRED' }
  end
  return nil
end

-- ---------------------------------------------------------------------------
