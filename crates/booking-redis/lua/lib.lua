-- lib.lua: helpers shared by every script of booking-redis.
--
-- The library prepends this file to each script before hashing it, so each
-- script is self-contained on the server (EVALSHA of prelude + script).
-- It touches no key by itself: every function takes its keys as arguments,
-- and every script passes keys it received in KEYS (Cluster-correct).
--
-- Encodings (all ids are 32 lowercase hex digits, times Unix ms):
--   seat  (hash `seats`, field = seat id; absent = available, version 0)
--     "<v>|A"                                          available
--     "<v>|H|<owner>|<hold>|<until>|<deadline>|<renewals>"  held
--     "<v>|S|<owner>|<order>"                          sold
--     "<v>|B"                                          blocked
--   pool hold (hash `pholds`, field = hold id)
--     "<pool>|<owner>|<quantity>|<until>|<deadline>|<renewals>|<version>"
--   pool sales (hash `psales`, field = "<pool>:<order>"), oldest first:
--     ";"-separated "<hold>|<owner>|<quantity>", one per sold hold
--   owner index (string `own:<owner>`), only kept when the show has a
--     per-owner limit: ";"-separated entries "s<hold>:<seat>,<seat>" or
--     "p<hold>", one per hold taken; an entry counts only the seats or
--     units still held live by that owner under that hold. Entries that no
--     longer count are dropped on the owner's next hold, and the whole key
--     expires once the owner's last hold has passed its deadline.

-- Lua numbers are doubles: exact for every integer below 2^53, which covers
-- Unix milliseconds and versions. Integers are written with %d, never %g.
local function int(n)
  return string.format('%d', n)
end

-- The decision time: the injected clock's Unix ms when the caller passed
-- one, else the Redis server's own clock (TIME; scripts are replicated by
-- effects on Redis 7, so reading it is allowed).
local function now_ms(arg)
  if arg ~= nil and arg ~= '' then
    return tonumber(arg)
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function seat_decode(raw)
  if not raw then
    return { v = 0, k = 'A' }
  end
  local v, k, rest = string.match(raw, '^(%d+)|(%u)(.*)$')
  local s = { v = tonumber(v), k = k }
  if k == 'H' then
    local o, h, u, d, r = string.match(rest, '^|(%x+)|(%x+)|(%-?%d+)|(%-?%d+)|(%d+)$')
    s.owner = o
    s.hold = h
    s.untl = tonumber(u)
    s.deadline = tonumber(d)
    s.renewals = tonumber(r)
  elseif k == 'S' then
    local o, ord = string.match(rest, '^|(%x+)|(%x+)$')
    s.owner = o
    s.order = ord
  end
  return s
end

local function seat_encode(s)
  if s.k == 'H' then
    return int(s.v) .. '|H|' .. s.owner .. '|' .. s.hold .. '|' .. int(s.untl) .. '|' .. int(s.deadline) .. '|' ..
      int(s.renewals)
  elseif s.k == 'S' then
    return int(s.v) .. '|S|' .. s.owner .. '|' .. s.order
  end
  return int(s.v) .. '|' .. s.k
end

-- Available at `now`: free, or held with an expired hold (lazy expiry).
local function seat_free(s, now)
  return s.k == 'A' or (s.k == 'H' and s.untl <= now)
end

-- Reads the seats named in ARGV[first..]; returns their states and the
-- highest version among them.
local function read_seats(seats_key, first)
  local states = {}
  local maxv = 0
  for i = first, #ARGV do
    local s = seat_decode(redis.call('HGET', seats_key, ARGV[i]))
    states[#states + 1] = s
    if s.v > maxv then
      maxv = s.v
    end
  end
  return states, maxv
end

-- Writes field/value pairs in bounded batches (Lua's stack is limited).
local function hset_pairs(key, pairs)
  local i = 1
  while i <= #pairs do
    local j = math.min(i + 999, #pairs)
    redis.call('HSET', key, unpack(pairs, i, j))
    i = j + 1
  end
end

local function zadd_pairs(key, pairs)
  local i = 1
  while i <= #pairs do
    local j = math.min(i + 999, #pairs)
    redis.call('ZADD', key, unpack(pairs, i, j))
    i = j + 1
  end
end

local function zrem_list(key, members)
  local i = 1
  while i <= #members do
    local j = math.min(i + 999, #members)
    redis.call('ZREM', key, unpack(members, i, j))
    i = j + 1
  end
end

-- The seat ids ARGV[first..] joined for the change feed: "s:1,2,3".
local function seat_items(first)
  local ids = {}
  for i = first, #ARGV do
    ids[#ids + 1] = ARGV[i]
  end
  return 's:' .. table.concat(ids, ',')
end

-- The holder checks of the seat state machine, in the model's order:
-- under this hold at all, owner, version (fencing token), expiry.
local function check_holder(s, owner, hold, version, now)
  if s.k ~= 'H' or s.hold ~= hold then
    return { 'EXPIRED' }
  end
  if s.owner ~= owner then
    return { 'NOTOWNER' }
  end
  if s.v ~= version then
    return { 'STALE', int(s.v) }
  end
  if s.untl <= now then
    return { 'EXPIRED' }
  end
  return nil
end

local function ph_decode(raw)
  local p, o, q, u, d, r, v = string.match(raw, '^(%d+)|(%x+)|(%d+)|(%-?%d+)|(%-?%d+)|(%d+)|(%d+)$')
  return {
    pool = p,
    owner = o,
    qty = tonumber(q),
    untl = tonumber(u),
    deadline = tonumber(d),
    renewals = tonumber(r),
    v = tonumber(v),
  }
end

local function ph_encode(h)
  return h.pool .. '|' .. h.owner .. '|' .. int(h.qty) .. '|' .. int(h.untl) .. '|' .. int(h.deadline) .. '|' ..
    int(h.renewals) .. '|' .. int(h.v)
end

-- The pool hold `hold` of pool `pool`, or nil (a hold of another pool is
-- not found, as in the model where holds live inside their pool).
local function ph_find(pholds_key, hold, pool)
  local raw = redis.call('HGET', pholds_key, hold)
  if not raw then
    return nil
  end
  local h = ph_decode(raw)
  if h.pool ~= pool then
    return nil
  end
  return h
end

local function pool_check_holder(h, owner, version, now)
  if not h then
    return { 'EXPIRED' }
  end
  if h.owner ~= owner then
    return { 'NOTOWNER' }
  end
  if h.v ~= version then
    return { 'STALE', int(h.v) }
  end
  if h.untl <= now then
    return { 'EXPIRED' }
  end
  return nil
end

-- Seats plus pool units `owner` holds live at `now`, and the index entries
-- that still count (the rest can be dropped on the next write).
local function owner_held(owner_key, seats_key, pholds_key, owner, now)
  local raw = redis.call('GET', owner_key)
  local total = 0
  local live = {}
  if not raw then
    return total, live
  end
  for entry in string.gmatch(raw, '[^;]+') do
    local n = 0
    if string.sub(entry, 1, 1) == 'p' then
      local hraw = redis.call('HGET', pholds_key, string.sub(entry, 2))
      if hraw then
        local h = ph_decode(hraw)
        if h.owner == owner and h.untl > now then
          n = h.qty
        end
      end
    else
      local hold, list = string.match(entry, '^s(%x+):(.*)$')
      for seat in string.gmatch(list, '%d+') do
        local s = seat_decode(redis.call('HGET', seats_key, seat))
        if s.k == 'H' and s.hold == hold and s.owner == owner and s.untl > now then
          n = n + 1
        end
      end
    end
    if n > 0 then
      total = total + n
      live[#live + 1] = entry
    end
  end
  return total, live
end

-- Rewrites an owner's index: the entries that still count plus `entry`.
-- `keep_ms` > 0 makes the key expire then (no hold of the owner can be live
-- after its deadline, at most the maximum hold time away); 0 keeps it.
local function owner_save(owner_key, live, entry, keep_ms)
  live[#live + 1] = entry
  if keep_ms > 0 then
    redis.call('SET', owner_key, table.concat(live, ';'), 'PX', int(keep_ms))
  else
    redis.call('SET', owner_key, table.concat(live, ';'))
  end
end

-- Appends one event to the show's change feed, numbered by the show's
-- event counter so that a subscriber can tell when it missed some.
local function emit(meta_key, feed_key, maxlen, kind, hold, order, items, version)
  local seq = redis.call('HINCRBY', meta_key, 'seq', 1)
  redis.call('XADD', feed_key, 'MAXLEN', '~', maxlen, '*', 'n', seq, 'k', kind, 'h', hold, 'o', order, 'i', items, 'v',
    int(version))
end

-- ---------------------------------------------------------------------------
