-- hold_batch.lua: several seat holds on one show, decided in order, each
-- all or none, exactly as if hold.lua had run for each one after the other
-- (the script runs atomically): a request sees the seats and the owner
-- counts left by the requests before it, and a refused request changes
-- nothing. What the requests share is done once: the show-existence check,
-- TIME, the owner indexes (one MGET), the seat states (one HMGET), the
-- pool holds of the indexes (one HMGET), the writes (one HSET, one ZADD,
-- one SET per owner) and the feed (one HINCRBY, one XADD whose entry lists
-- every granted hold, see batch.lua).
--
-- KEYS[1] meta    KEYS[2] seats   KEYS[3] sexp (seat expiries)
-- KEYS[4] pholds  KEYS[5] feed    KEYS[6] free (the free-seat index)
-- KEYS[7] osold (units sold per owner)
-- KEYS[7 + r] own:<owner> of request r (the owner's index)
-- ARGV[1] ttl ms   ARGV[2] max hold lifetime ms
-- ARGV[3] per-owner limits "<held>,<tickets>" (each 'none' = no limit)   ARGV[4] feed MAXLEN
-- ARGV[5] owner index lifetime ms (0 = no expiry)   ARGV[6] requests m
-- then per request: now ('store' = the server's TIME, else Unix ms), owner, hold id,
--   seat count n, n seat ids (ascending, unique, within the show)
--
-- Returns one reply per request, in order, each as hold.lua's:
--   {'OK', version, until} | {'HELD_PER_OWNER', would_hold} | {'TICKETS_PER_OWNER', would_have}
--   | {'SEATS_TAKEN', {seat...}} | {'UNKNOWN_SHOW'} | {'LOST'}
local m = tonumber(ARGV[6])
local out = {}
local refused, fc = show_check(KEYS[1], KEYS[2])
if refused then
  for r = 1, m do
    out[r] = refused
  end
  return out
end
local ttl, maxhold = tonumber(ARGV[1]), tonumber(ARGV[2])
local maxown, maxtix = owner_limits(ARGV[3])
local counted = maxown or maxtix

-- Every seat the requests name is read in one HMGET with the seats of the
-- owner indexes.
local starts, nows, fields = read_requests(7, m, 4)

-- The owner indexes (see owner.lua), once per owner: seat members are read
-- with the requested seats, pool members with one HMGET of `pholds`.
local owners, olist, precs = {}, {}, {}
if counted then
  local okeys = {}
  for r = 1, m do
    local o = ARGV[starts[r] + 1]
    if not owners[o] then
      olist[#olist + 1] = o
      okeys[#okeys + 1] = KEYS[7 + r]
      owners[o] = { key = KEYS[7 + r] }
    end
  end
  local indexes = call('MGET', unpack(okeys))
  local pools = {}
  for i, o in ipairs(olist) do
    local members = {}
    index_split(indexes[i], fields, pools, members)
    owners[o].members = members
  end
  -- Sold units do not change in this script: read once per owner.
  if maxtix then
    local sold = call('HMGET', KEYS[7], unpack(olist))
    for i, o in ipairs(olist) do
      owners[o].sold = tonumber(sold[i] or '0')
    end
  end
  -- The indexes' pool holds, by id: {owner, quantity, until} (pool holds
  -- do not change in this script).
  if #pools > 0 then
    local recs = batched('HMGET', KEYS[4], pools)
    for i, hold in ipairs(pools) do
      if recs[i] then
        precs[hold] = { pool_hold_fields(recs[i]) }
      end
    end
  end
end

-- Every seat's current state, updated as requests succeed.
local cur = read_states(KEYS[2], fields)

-- The decisions, in order. The strings that depend only on `now` are
-- built once per distinct time.
local changed, scores, ends = {}, {}, {}
local earliest = math.huge
local fholds, fitems, fversions = {}, {}, {}
local last_now, score, deadline
for r = 1, m do
  local now, a = nows[r], starts[r]
  local owner, hold, n = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local first, last = a + 4, a + 3 + n
  local reply, live
  if counted then
    -- As owner_index: seats held live by the owner, live pool holds.
    local total = 0
    live = {}
    for _, mem in ipairs(owners[owner].members) do
      if string.byte(mem, 1) == 112 then
        local rec = precs[sub(mem, 2)]
        if rec and rec[1] == owner and rec[3] > now then
          total = total + rec[2]
          live[#live + 1] = mem
        end
      elseif held_live_by(cur[mem], owner, now) then
        total = total + 1
        live[#live + 1] = mem
      end
    end
    if maxown and total + n > maxown then
      reply = { 'HELD_PER_OWNER', total + n }
    elseif maxtix and total + n + owners[owner].sold > maxtix then
      reply = { 'TICKETS_PER_OWNER', total + n + owners[owner].sold }
    end
  end
  if not reply then
    -- Available: absent, "<v>|A", or held ("<v>|H|...") with an expired hold.
    local taken, maxv
    maxv = 0
    for j = first, last do
      local raw = cur[ARGV[j]]
      if raw then
        local p = find(raw, '|', 1, true)
        local k = string.byte(raw, p + 1)
        if not (k == 65 or (k == 72 and held_until(raw, p) <= now)) then
          taken = taken or {}
          taken[#taken + 1] = ARGV[j]
        end
        local v = tonumber(sub(raw, 1, p - 1))
        if v > maxv then
          maxv = v
        end
      end
    end
    if taken then
      reply = { 'SEATS_TAKEN', taken }
    else
      if now ~= last_now then
        last_now, score, deadline = now, int(now + ttl), int(now + maxhold)
      end
      local v = maxv + 1
      local enc = int(v) .. '|H|' .. owner .. '|' .. hold .. '|' .. score .. '|' .. deadline .. '|0|' .. (n == 1 and '1' or int(n))
      local untl = now + ttl
      if untl < earliest then
        earliest = untl
      end
      for j = first, last do
        local id = ARGV[j]
        if scores[id] == nil then
          changed[#changed + 1] = id
        end
        cur[id] = enc
        scores[id] = score
        ends[id] = untl
      end
      if live then
        for j = first, last do
          live[#live + 1] = ARGV[j]
        end
        local o = owners[owner]
        o.members = live
        o.dirty = true
      end
      local f = #fholds + 1
      fholds[f], fversions[f] = hold, v
      if n == 1 then
        fitems[f] = 's:' .. ARGV[first]
      else
        fitems[f] = 's:' .. table.concat(ARGV, ',', first, last)
      end
      reply = { 'OK', v, untl }
    end
  end
  out[r] = reply
end

if #changed > 0 then
  local pairs_ = {}
  for i, id in ipairs(changed) do
    pairs_[2 * i - 1] = id
    pairs_[2 * i] = cur[id]
  end
  batched('HSET', KEYS[2], pairs_)
  for i, id in ipairs(changed) do
    pairs_[2 * i - 1] = scores[id]
    pairs_[2 * i] = id
  end
  batched('ZADD', KEYS[3], pairs_)
  -- The new holds' bits: 0, unless a hold ends at or before the index's
  -- time (an injected clock set back).
  fc = tonumber(fc)
  if earliest > fc then
    free_bits(KEYS[6], changed, '0')
  else
    local bits = { ['0'] = {}, ['1'] = {} }
    for _, id in ipairs(changed) do
      local b = bits[held_bit(ends[id], fc)]
      b[#b + 1] = id
    end
    free_bits(KEYS[6], bits['0'], '0')
    free_bits(KEYS[6], bits['1'], '1')
  end
  if counted then
    local keep = ARGV[5]
    for _, o in ipairs(olist) do
      local rec = owners[o]
      if rec.dirty then
        owner_save(rec.key, rec.members, {}, keep)
      end
    end
  end
  emit_many(KEYS[1], KEYS[5], ARGV[4], 'held', fholds, fitems, fversions)
end
return out
