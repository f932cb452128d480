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


-- Units of pool `pool` under live holds at `now`: the pool's held units
-- less those of its expired holds not reclaimed yet.
local function pool_live_units(pools_key, pholds_key, pexp_key, pool, now)
  local held = tonumber(call('HGET', pools_key, 'h:' .. pool) or '0')
  local past = call('ZRANGEBYSCORE', pexp_key, '-inf', int(now))
  if #past > 0 then
    for _, raw in ipairs(batched('HMGET', pholds_key, past)) do
      if raw then
        local h = ph_decode(raw)
        if h.pool == pool then
          held = held - h.qty
        end
      end
    end
  end
  return held
end

-- ---------------------------------------------------------------------------
