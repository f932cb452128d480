-- release_batch.lua: several seat-hold releases on one show, decided in
-- order, each all or none, exactly as if release.lua had run for each one
-- after the other (the script runs atomically). Shared: one HMGET of every
-- seat named, one HSET, one ZREM, one HINCRBY and one XADD for the feed, and the
-- show-existence check (only before a refusal, as in release.lua); each
-- release is one event of the batch's feed entry.
--
-- KEYS[1] meta   KEYS[2] seats   KEYS[3] sexp   KEYS[4] feed   KEYS[5] free
-- ARGV[1] feed MAXLEN   ARGV[2] requests m
-- then per request: now ('store' = the server's TIME, else Unix ms), owner, hold id,
--   token version, seat count n, n seat ids (ascending, unique)
--
-- Returns one reply per request, in order, each as release.lua's:
--   {'OK', version} | {'HOLD_EXPIRED'} | {'NOT_OWNER'} | {'STALE_TOKEN', current}
--   | {'UNKNOWN_SHOW'} | {'LOST'}
local m = tonumber(ARGV[2])
local starts, nows, fields = read_requests(3, m, 5)
-- Every seat's current state, updated as requests succeed.
local cur = read_states(KEYS[2], fields)

local out, changed, done = {}, {}, {}
local fholds, fitems, fversions = {}, {}, {}
local exists
for r = 1, m do
  local now, a = nows[r], starts[r]
  local owner, hold, version = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local first, last = a + 5, a + 4 + tonumber(ARGV[a + 4])
  -- As release.lua: the prefix check, check_holder on the first seat
  -- that fails it.
  -- (the version as sent: see release.lua)
  local pre = ARGV[a + 3] .. '|H|' .. owner .. '|' .. hold .. '|'
  local named = last - first + 1
  local post = named == 1 and '|1' or '|' .. int(named)
  local pat = #pre + 1
  local err
  for j = first, last do
    local raw = cur[ARGV[j]]
    if
      not (
        raw
        and find(raw, pre, 1, true) == 1
        and sub(raw, -#post) == post
        and tonumber(sub(raw, pat, find(raw, '|', pat, true) - 1)) > now
      )
    then
      err = check_holder(seat_decode(raw), owner, hold, version, named, now)
      if err then
        if exists == nil then
          exists = show_check(KEYS[1], KEYS[2]) or false
        end
        err = exists or err
        break
      end
    end
  end
  if err then
    out[r] = err
  else
    local v = version + 1
    local enc = int(v) .. '|A'
    for j = first, last do
      local id = ARGV[j]
      if not done[id] then
        done[id] = true
        changed[#changed + 1] = id
      end
      cur[id] = enc
    end
    local f = #fholds + 1
    fholds[f], fversions[f] = hold, v
    if named == 1 then
      fitems[f] = 's:' .. ARGV[first]
    else
      fitems[f] = 's:' .. table.concat(ARGV, ',', first, last)
    end
    out[r] = { 'OK', v }
  end
end

if #changed > 0 then
  local hpairs = {}
  for i, id in ipairs(changed) do
    hpairs[2 * i - 1] = id
    hpairs[2 * i] = cur[id]
  end
  batched('HSET', KEYS[2], hpairs)
  batched('ZREM', KEYS[3], changed)
  free_bits(KEYS[5], changed, '1')
  emit_many(KEYS[1], KEYS[4], ARGV[1], 'released', fholds, fitems, fversions)
end
return out
