-- hold_batch.lua: several seat holds on one show, decided in order, each
-- all or none, exactly as if hold.lua had run for each one after the other
-- (the script runs atomically): a request sees the seats and the owner
-- counts left by the requests before it, and a refused request changes
-- nothing. What the requests share is done once: the show-existence check,
-- TIME, the owner indexes (one MGET), the seat states (one HMGET), the
-- pool holds of the indexes (one HMGET), the writes (one HSET, one ZADD,
-- one SET per owner) and the feed counter (one HINCRBY); each granted hold
-- still gets its own feed entry (XADD).
--
-- KEYS[1] meta    KEYS[2] seats   KEYS[3] sexp (seat expiries)
-- KEYS[4] pholds  KEYS[5] feed
-- KEYS[5 + r] own:<owner> of request r (the owner's index)
-- ARGV[1] ttl ms   ARGV[2] max hold lifetime ms
-- ARGV[3] per-owner limit (-1 = none)   ARGV[4] feed MAXLEN
-- ARGV[5] owner index lifetime ms (0 = no expiry)   ARGV[6] requests m
-- then per request: now (Unix ms, '' = server TIME), owner, hold id,
--   seat count n, n seat ids (ascending, unique, within the show)
--
-- Returns one reply per request, in order, each as hold.lua's:
--   {'OK', version, until} | {'LIMIT', would_hold, max}
--   | {'TAKEN', {seat...}} | {'NOSHOW'}
local m = tonumber(ARGV[6])
local out = {}
if call('EXISTS', KEYS[1]) == 0 then
  for r = 1, m do
    out[r] = { 'NOSHOW' }
  end
  return out
end
local ttl, maxhold, maxown = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

-- Where each request's arguments start, its time, and every seat the
-- requests name (HMGET fields). The seat ids are read from ARGV in place.
local starts, nows, fields = {}, {}, {}
local server_now
local at = 7
for r = 1, m do
  starts[r] = at
  if ARGV[at] ~= '' then
    nows[r] = tonumber(ARGV[at])
  else
    server_now = server_now or now_ms('')
    nows[r] = server_now
  end
  local n = tonumber(ARGV[at + 3])
  for j = at + 4, at + 3 + n do
    fields[#fields + 1] = ARGV[j]
  end
  at = at + 4 + n
end

-- The owner indexes (see owner.lua), once per owner: seat members are read
-- with the requested seats, pool members with one HMGET of `pholds`.
local owners, olist, precs = {}, {}, {}
if maxown >= 0 then
  local okeys = {}
  for r = 1, m do
    local o = ARGV[starts[r] + 1]
    if not owners[o] then
      olist[#olist + 1] = o
      okeys[#okeys + 1] = KEYS[5 + r]
      owners[o] = { key = KEYS[5 + r] }
    end
  end
  local indexes = call('MGET', unpack(okeys))
  local pools = {}
  for i, o in ipairs(olist) do
    local members, index = {}, indexes[i]
    if index then
      for mem in string.gmatch(index, '[^,]+') do
        members[#members + 1] = mem
        if string.byte(mem, 1) == 112 then -- 'p'
          pools[#pools + 1] = sub(mem, 2)
        else
          fields[#fields + 1] = mem
        end
      end
    end
    owners[o].members = members
  end
  -- "<pool>|<owner>|<quantity>|<until>|...", by pool hold id: pool holds
  -- do not change in this script.
  if #pools > 0 then
    local recs = batched('HMGET', KEYS[4], pools)
    for i, hold in ipairs(pools) do
      local raw = recs[i]
      if raw then
        local a = find(raw, '|', 1, true)
        local b = find(raw, '|', a + 1, true)
        local c = find(raw, '|', b + 1, true)
        local d = find(raw, '|', c + 1, true)
        precs[hold] = { sub(raw, a + 1, b - 1), tonumber(sub(raw, b + 1, c - 1)), tonumber(sub(raw, c + 1, d - 1)) }
      end
    end
  end
end

-- Every seat's current state (false = absent), updated as requests succeed.
local cur = {}
for i, raw in ipairs(batched('HMGET', KEYS[2], fields)) do
  cur[fields[i]] = raw
end

-- The decisions, in order. The strings that depend only on `now` are
-- built once per distinct time.
local changed, scores = {}, {}
local fholds, fitems, fversions = {}, {}, {}
local last_now, score, deadline
for r = 1, m do
  local now, a = nows[r], starts[r]
  local owner, hold, n = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local first, last = a + 4, a + 3 + n
  local reply, live
  if maxown >= 0 then
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
      else
        local raw = cur[mem]
        local p = raw and find(raw, '|', 1, true)
        if p and string.byte(raw, p + 1) == 72 and sub(raw, p + 3, p + 34) == owner and held_until(raw, p) > now then
          total = total + 1
          live[#live + 1] = mem
        end
      end
    end
    if total + n > maxown then
      reply = { 'LIMIT', total + n, maxown }
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
      reply = { 'TAKEN', taken }
    else
      if now ~= last_now then
        last_now, score, deadline = now, int(now + ttl), int(now + maxhold)
      end
      local v = maxv + 1
      local enc = int(v) .. '|H|' .. owner .. '|' .. hold .. '|' .. score .. '|' .. deadline .. '|0'
      for j = first, last do
        local id = ARGV[j]
        if scores[id] == nil then
          changed[#changed + 1] = id
        end
        cur[id] = enc
        scores[id] = score
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
      fholds[f], fitems[f], fversions[f] = hold, 's:' .. table.concat(ARGV, ',', first, last), v
      reply = { 'OK', v, now + ttl }
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
  if maxown >= 0 then
    local keep = tonumber(ARGV[5])
    for _, o in ipairs(olist) do
      local rec = owners[o]
      if rec.dirty then
        if keep > 0 then
          call('SET', rec.key, table.concat(rec.members, ','), 'PX', ARGV[5])
        else
          call('SET', rec.key, table.concat(rec.members, ','))
        end
      end
    end
  end
  emit_many(KEYS[1], KEYS[5], ARGV[4], 'held', fholds, fitems, fversions)
end
return out
