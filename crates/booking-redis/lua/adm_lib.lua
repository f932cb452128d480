-- adm_lib.lua: helpers prepended to the waiting-room scripts (`adm_*.lua`).
-- Every script gets the same ten keys of one room, all under the room's
-- hash tag, so a room lives on one Cluster slot:
--   KEYS[1]  room      hash: opens, mode, late, pm, max, ttl, inlet ('' for
--                      none), credits, gen, seq, and once drawn: seed, drawn
--   KEYS[2]  sessions  hash: session id -> visitor (32 hex digits)
--   KEYS[3]  visitors  hash: visitor -> 'state|key|until|joined|session'
--                      (state: pre, wait, adm, exp, left, rev)
--   KEYS[4]  pre       sorted set: the pre-queue by arrival (until the draw)
--   KEYS[5]  queue     sorted set: waiting visitors by place key
--   KEYS[6]  active    sorted set: admitted sessions by their end (Unix ms)
--   KEYS[7]  window    sorted set: admissions by time (the last minute's)
--   KEYS[8]  revoked   sorted set: ended sessions by their end
--   KEYS[9]  arrivals  list: the drawn pre-queue in arrival order
--   KEYS[10] order     list: the drawn order
-- ARGV[1] is always the decision time: 'store' (the server's TIME) or the
-- injected clock's Unix ms. `call`, `int` and `now_ms` come from
-- lua/idem_lib.lua, prepended before this file.

local R, SESS, VIS, PRE, QUEUE, ACTIVE, WINDOW, REVOKED, ARRIVALS, ORDER =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
-- Late arrivals' keys start above every drawn rank: 2^40.
local LATE = 1099511627776
local MINUTE = 60000

local function decode(rec)
  local st, key, untl, joined, session = string.match(rec, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  return st, tonumber(key), tonumber(untl), tonumber(joined), session
end

local function put(v, st, key, untl, joined, session)
  call('HSET', VIS, v, st .. '|' .. int(key) .. '|' .. int(untl) .. '|' .. int(joined) .. '|' .. session)
end

-- A visitor as it stands at `now`: {id, session, joined, STATE, n} where n
-- is the pre-queue's size (PRE), the position (WAIT) or the session's end
-- (ADM); or nil.
local function view(v, now)
  local rec = call('HGET', VIS, v)
  if not rec then
    return nil
  end
  local st, key, untl, joined, session = decode(rec)
  local state, n = 'REV', 0
  if st == 'pre' then
    state, n = 'PRE', call('ZCARD', PRE)
  elseif st == 'wait' then
    local undrawn = 0
    if not call('HGET', R, 'drawn') then
      undrawn = call('ZCARD', PRE)
    end
    state, n = 'WAIT', call('ZRANK', QUEUE, v) + undrawn + 1
  elseif st == 'adm' and untl > now then
    state, n = 'ADM', untl
  elseif st == 'adm' or st == 'exp' then
    state = 'EXP'
  elseif st == 'left' then
    state = 'LEFT'
  end
  return { v, session, joined, state, n }
end

-- Admits visitor v (its record's key, joined and session given) at now.
local function admit_one(v, key, joined, session, now)
  local untl = now + tonumber(call('HGET', R, 'ttl'))
  put(v, 'adm', key, untl, joined, session)
  call('ZADD', ACTIVE, int(untl), v)
  call('ZADD', WINDOW, int(now), v)
  return untl
end

-- RPUSH in chunks (Lua's unpack has a stack limit).
local function push_all(list, items)
  for i = 1, #items, 1000 do
    call('RPUSH', list, unpack(items, i, math.min(i + 999, #items)))
  end
end

-- ---------------------------------------------------------------------------
