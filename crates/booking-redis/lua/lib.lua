-- lib.lua: the core helpers, prepended to every script of booking-redis
-- that works on a show, followed by the helper files the script needs
-- (`seat.lua`, `pool.lua`, `owner.lua`; `src/scripts.rs` lists them per
-- script), so each script is self-contained on the server (EVALSHA of
-- prelude + script). The helpers touch no key by themselves: every function
-- takes its keys as arguments, and every script passes keys it received in
-- KEYS (Cluster-correct).
--
-- Encodings (all ids are exactly 32 lowercase hex digits, times Unix ms):
--   seat  (hash `seats`, field = seat id; absent = available, version 0,
--     but only while the hash's marker field '#' is there: it is written
--     with the show, so a hash that was evicted or deleted is told from one
--     whose seats were never touched)
--     "<v>|A"                                          available
--     "<v>|H|<owner>|<hold>|<until>|<deadline>|<renewals>|<size>"  held,
--        size = the number of seats the hold was granted with (a token
--        must name all of them)
--     "<v>|S|<owner>|<order>"                          sold
--     "<v>|B"                                          blocked
--   free-seat index (string `free`, a bitmap, bit = seat id): bit 1 when
--     the seat is available at the index's time `fc` (the value of the
--     seat hash's marker '#'): available, or held with until <= fc. Every
--     script that changes a seat sets its bit; best.lua moves `fc` to its
--     own now first (flipping the bits of the holds whose expiry lies in
--     between, found in `sexp`), so that the bitmap then says exactly which
--     seats are free, and picks from it.
--   pools (hash `pools`): marker field '#' written with the show, as for
--     the seats
--   pool hold (hash `pholds`, field = hold id)
--     "<pool>|<owner>|<quantity>|<until>|<deadline>|<renewals>|<version>"
--   pool sales (hash `psales`, field = "<pool>:<order>"), oldest first:
--     ";"-separated "<hold>|<owner>|<quantity>", one per sold hold
--   sale record (hash `orders`, field = order id): "<version>|<json>", the
--     version the sale answered and the JSON of its owner, token and
--     payment (written by the library): the answer to every later sell of
--     the order
--   owner index (string `own:<owner>`), only kept when the show has a
--     per-owner limit: ","-separated members, the id of each seat the
--     owner holds or held and "p<hold>" for each of the owner's pool holds;
--     see owner.lua.
--
-- Cost: each script runs on the one Redis thread, and its prelude runs on
-- every call: each function defined here costs a closure per call, so the
-- helpers are split by use and kept few. The hot paths read seat states
-- with one HMGET and plain `find`/`sub` at the offsets the encoding fixes
-- (no patterns, no table per seat).

local call = redis.call
local find, sub = string.find, string.sub

-- Lua numbers are doubles: exact for every integer below 2^53, which covers
-- Unix milliseconds and versions. Integers are written with %d, never %g.
local function int(n)
  return string.format('%d', n)
end

-- The decision time: the injected clock's Unix ms when the caller passed
-- one, else the Redis server's own clock (TIME; scripts are replicated by
-- effects on Redis 7, so reading it is allowed).
local function now_ms(arg)
  if arg and arg ~= '' then
    return tonumber(arg)
  end
  local t = call('TIME')
  return t[1] * 1000 + math.floor(t[2] / 1000)
end

-- The until of a held seat's raw state "<v>|H|<owner>|<hold>|<until>|...",
-- `p` being the position of its first '|': the owner starts at p + 3, the
-- hold at p + 36, the until at p + 69 (ids are 32 characters).
local function held_until(raw, p)
  return tonumber(sub(raw, p + 69, find(raw, '|', p + 70, true) - 1))
end

-- Whether the show exists with its data: nil and the marker's value when
-- the marker field '#' is in `hash_key` (the show's `seats` or `pools`
-- hash), else the refusal: {'NOSHOW'} when the show does not exist,
-- {'LOST'} when it does but the hash is gone (evicted or deleted): missing
-- seats must not read as free.
local function show_check(meta_key, hash_key)
  local mark = call('HGET', hash_key, '#')
  if mark then
    return nil, mark
  end
  if call('EXISTS', meta_key) == 0 then
    return { 'NOSHOW' }
  end
  return { 'LOST' }
end

-- Sets the free-seat index bits of seats `ids` to `bit` ('0' or '1').
local function free_bits(free_key, ids, bit)
  local n = #ids
  if n == 1 then
    call('SETBIT', free_key, ids[1], bit)
  elseif n > 1 then
    local args = {}
    for i, id in ipairs(ids) do
      args[4 * i - 3], args[4 * i - 2], args[4 * i - 1], args[4 * i] = 'SET', 'u1', id, bit
    end
    for i = 1, #args, 1000 do
      call('BITFIELD', free_key, unpack(args, i, math.min(i + 999, #args)))
    end
  end
end

-- The free-seat index bit of a seat held until `untl`, the index's time
-- being `fc`.
local function held_bit(untl, fc)
  if untl <= fc then
    return '1'
  end
  return '0'
end

-- Runs `cmd key <items...>` in batches of at most 1000 items (Lua's stack
-- is limited; an even size keeps HSET and ZADD pairs together), nothing
-- for no items. Returns the replies of HMGET-like commands concatenated
-- (absent fields read as false).
local function batched(cmd, key, items)
  local n = #items
  if n <= 1000 then
    if n == 0 then
      return {}
    end
    return call(cmd, key, unpack(items))
  end
  local out = {}
  for i = 1, n, 1000 do
    local r = call(cmd, key, unpack(items, i, math.min(i + 999, n)))
    if type(r) == 'table' then
      for j = 1, #r do
        out[#out + 1] = r[j]
      end
    end
  end
  return out
end

-- Appends one event to the show's change feed, numbered by the show's
-- event counter so that a subscriber can tell when it missed some.
-- (Arguments go to Redis as strings: a Lua number would be converted with
-- a float format, which costs more.)
local function emit(meta_key, feed_key, maxlen, kind, hold, order, items, version)
  local seq = call('HINCRBY', meta_key, 'seq', '1')
  call('XADD', feed_key, 'MAXLEN', '~', maxlen, '*', 'n', int(seq), 'k', kind, 'h', hold, 'o', order, 'i', items, 'v',
    int(version))
end

-- ---------------------------------------------------------------------------
