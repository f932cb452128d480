-- owner.lua: the owner index (after lib.lua), for the per-owner limit,
-- and the owners' sold units, for the per-owner ticket cap.
--
-- `own:<owner>` is a string of ","-separated members: the id of each seat
-- the owner took a hold on, and "p<hold>" for each of the owner's pool
-- holds. It only says where to look; the seat and pool-hold states decide:
-- a seat counts while the owner holds it live (under any hold), a pool hold
-- while it is live. So releases, sales, extensions and expiry need not touch
-- the index, and the count is exact. Members that no longer count are
-- dropped when the owner's next hold rewrites the index, and the key
-- expires once the owner's last hold has passed its deadline.

-- The per-owner limits argument "<held>,<tickets>": the held limit and the
-- ticket cap, each a number or 'none' (false).
local function owner_limits(arg)
  local c = find(arg, ',', 1, true)
  if not c then
    error('booking: the owner limits argument is not "<held>,<tickets>": ' .. tostring(arg))
  end
  return limit_arg(sub(arg, 1, c - 1)), limit_arg(sub(arg, c + 1))
end

-- `osold` (hash, field = owner id) holds the units sold to each owner and
-- not refunded, in a show with a ticket cap: sell.lua and sell_pool.lua
-- add, refund.lua and refund_pool.lua subtract. Releases and expiry touch
-- only holds. An owner's count, absent = 0.
local function sold_to(osold_key, owner)
  return tonumber(call('HGET', osold_key, owner) or '0')
end

-- The owner limits for `n` more units of an owner holding `held` live:
-- a refusal, or nil.
local function owner_refusal(maxown, maxtix, osold_key, owner, held, n)
  if maxown and held + n > maxown then
    return { 'HELD_PER_OWNER', held + n }
  end
  if maxtix then
    local have = held + n + sold_to(osold_key, owner)
    if have > maxtix then
      return { 'TICKETS_PER_OWNER', have }
    end
  end
  return nil
end

-- Splits an owner index (a string, or false when absent): seat members
-- are appended to `seats`, pool-hold ids (members "p<hold>") to `pools`,
-- and, when given, every member to `all`.
local function index_split(index, seats, pools, all)
  if not index or index == '' then
    return
  end
  if not find(index, ',', 1, true) then
    -- One member (an owner holding one seat or pool hold): no iterator.
    if all then
      all[#all + 1] = index
    end
    if string.byte(index, 1) == 112 then -- 'p'
      pools[#pools + 1] = sub(index, 2)
    else
      seats[#seats + 1] = index
    end
    return
  end
  for m in string.gmatch(index, '[^,]+') do
    if all then
      all[#all + 1] = m
    end
    if string.byte(m, 1) == 112 then -- 'p'
      pools[#pools + 1] = sub(m, 2)
    else
      seats[#seats + 1] = m
    end
  end
end

-- Whether a seat's raw state ("<v>|H|<owner>|...", or false) is a hold of
-- `owner` live at `now`.
local function held_live_by(raw, owner, now)
  local p = raw and find(raw, '|', 1, true)
  return p and string.byte(raw, p + 1) == 72 and find(raw, owner, p + 3, true) == p + 3 and held_until(raw, p) > now
end

-- A pool hold's owner, quantity and expiry, from its raw record
-- "<pool>|<owner>|<quantity>|<until>|...".
local function pool_hold_fields(raw)
  local a = find(raw, '|', 1, true)
  local b = find(raw, '|', a + 1, true)
  local c = find(raw, '|', b + 1, true)
  local d = find(raw, '|', c + 1, true)
  return sub(raw, a + 1, b - 1), tonumber(sub(raw, b + 1, c - 1)), tonumber(sub(raw, c + 1, d - 1))
end

-- Seats plus pool units `owner` holds live at `now`; the members that still
-- count; and the raw states of the seats `ids`, read along with the index's
-- seats in one HMGET (`ids` may be empty).
local function owner_index(owner_key, seats_key, pholds_key, owner, now, ids)
  local fields, pools = {}, {}
  for i, id in ipairs(ids) do
    fields[i] = id
  end
  local n = #fields
  index_split(call('GET', owner_key), fields, pools)
  local raws = batched('HMGET', seats_key, fields)
  local total, live = 0, {}
  for i = n + 1, #fields do
    if held_live_by(raws[i], owner, now) then
      total = total + 1
      live[#live + 1] = fields[i]
    end
  end
  if #pools > 0 then
    -- Counts when live and the owner's.
    local recs = batched('HMGET', pholds_key, pools)
    for i, hold in ipairs(pools) do
      if recs[i] then
        local o, quantity, untl = pool_hold_fields(recs[i])
        if o == owner and untl > now then
          total = total + quantity
          live[#live + 1] = 'p' .. hold
        end
      end
    end
  end
  return total, live, raws
end

-- Rewrites an owner's index after a new hold: the members that still count
-- (none of them is among the new hold's seats: those were free) plus
-- `members`. `keep` (the script's argument as sent, Unix ms) other than
-- '0' makes the key expire then (no hold of the owner can be live after
-- its deadline, at most the maximum hold time away); '0' keeps it.
local function owner_save(owner_key, live, members, keep)
  for _, m in ipairs(members) do
    live[#live + 1] = m
  end
  if keep ~= '0' then
    call('SET', owner_key, table.concat(live, ','), 'PX', keep)
  else
    call('SET', owner_key, table.concat(live, ','))
  end
end
