-- pool.lua: pool-hold helpers (after lib.lua) for the scripts that act on
-- general-admission pools.

local function ph_decode(raw)
  local a = find(raw, '|', 1, true)
  local b = find(raw, '|', a + 1, true)
  local c = find(raw, '|', b + 1, true)
  local d = find(raw, '|', c + 1, true)
  local e = find(raw, '|', d + 1, true)
  local f = find(raw, '|', e + 1, true)
  return {
    pool = sub(raw, 1, a - 1),
    owner = sub(raw, a + 1, b - 1),
    qty = tonumber(sub(raw, b + 1, c - 1)),
    untl = tonumber(sub(raw, c + 1, d - 1)),
    deadline = tonumber(sub(raw, d + 1, e - 1)),
    renewals = tonumber(sub(raw, e + 1, f - 1)),
    v = tonumber(sub(raw, f + 1)),
  }
end

local function ph_encode(h)
  return h.pool .. '|' .. h.owner .. '|' .. int(h.qty) .. '|' .. int(h.untl) .. '|' .. int(h.deadline) .. '|' ..
    int(h.renewals) .. '|' .. int(h.v)
end

-- The pool hold `hold` of pool `pool`, or nil (a hold of another pool is
-- not found, as in the model where holds live inside their pool).
local function ph_find(pholds_key, hold, pool)
  local raw = call('HGET', pholds_key, hold)
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


-- The pool counters (hash `pools`) are kept at one time t, the value of
-- the hash's marker '#': per pool, `h:<p>` counts the units of holds live
-- at t, `x:<p>` those of holds expired at t and not yet reclaimed or
-- swept, and `xl:<p>` lists (comma-separated) the ids of holds that
-- expired since the pool's last reclaim (it may name holds since swept,
-- or live again under an injected clock set back: reclaiming checks each).
-- Every script that acts on pool holds first brings the counters to its
-- now (`pool_sync`): only the holds whose expiry lies in between are
-- touched, each once, so no script scans every expired hold.

-- Brings the counters from time `t` to `now`.
local function pool_sync(pools_key, pholds_key, pexp_key, t, now)
  if now == t then
    return
  end
  local lo, hi = t, now
  if now < t then
    lo, hi = now, t
  end
  local ids = call('ZRANGEBYSCORE', pexp_key, '(' .. int(lo), int(hi))
  if #ids > 0 then
    local dx, xl, order = {}, {}, {}
    for i, raw in ipairs(batched('HMGET', pholds_key, ids)) do
      if raw then
        local h = ph_decode(raw)
        if not dx[h.pool] then
          dx[h.pool], xl[h.pool] = 0, {}
          order[#order + 1] = h.pool
        end
        if h.untl <= now then
          -- Expired since t.
          dx[h.pool] = dx[h.pool] + h.qty
          local l = xl[h.pool]
          l[#l + 1] = ids[i]
        else
          -- Live again (the clock went back).
          dx[h.pool] = dx[h.pool] - h.qty
        end
      end
    end
    for _, p in ipairs(order) do
      call('HINCRBY', pools_key, 'x:' .. p, int(dx[p]))
      call('HINCRBY', pools_key, 'h:' .. p, int(-dx[p]))
      if #xl[p] > 0 then
        local add = table.concat(xl[p], ',')
        local cur = call('HGET', pools_key, 'xl:' .. p)
        if cur and cur ~= '' then
          add = cur .. ',' .. add
        end
        call('HSET', pools_key, 'xl:' .. p, add)
      end
    end
  end
  call('HSET', pools_key, '#', int(now))
end

-- Removes every hold of `pool` expired at `now` (the counters being at
-- `now`), as the model's reclaim before a new hold does.
local function pool_reclaim(pools_key, pholds_key, pexp_key, pool, now)
  local list = call('HGET', pools_key, 'xl:' .. pool)
  if list and list ~= '' then
    local ids, seen = {}, {}
    for id in string.gmatch(list, '[^,]+') do
      if not seen[id] then
        seen[id] = true
        ids[#ids + 1] = id
      end
    end
    local gone = {}
    for i, raw in ipairs(batched('HMGET', pholds_key, ids)) do
      if raw then
        local h = ph_decode(raw)
        if h.pool == pool and h.untl <= now then
          gone[#gone + 1] = ids[i]
        end
      end
    end
    batched('HDEL', pholds_key, gone)
    batched('ZREM', pexp_key, gone)
    call('HDEL', pools_key, 'xl:' .. pool)
  end
  call('HSET', pools_key, 'x:' .. pool, '0')
end

-- ---------------------------------------------------------------------------
