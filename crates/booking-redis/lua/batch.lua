-- batch.lua: helpers (after lib.lua) for the scripts that decide several
-- requests of one show in one call (`hold_batch.lua`, `release_batch.lua`).

-- Appends one change-feed event per hold `holds[i]` (items `items[i]`,
-- version `versions[i]`), as `emit` would one by one: the show's event
-- counter is raised once by their number and the entries numbered in
-- order.
local function emit_many(meta_key, feed_key, maxlen, kind, holds, items, versions)
  local k = #holds
  if k == 0 then
    return
  end
  local seq = call('HINCRBY', meta_key, 'seq', int(k)) - k
  for i = 1, k - 1 do
    call('XADD', feed_key, '*', 'n', int(seq + i), 'k', kind, 'h', holds[i], 'o', '', 'i', items[i], 'v',
      int(versions[i]))
  end
  call('XADD', feed_key, 'MAXLEN', '~', maxlen, '*', 'n', int(seq + k), 'k', kind, 'h', holds[k], 'o', '', 'i',
    items[k], 'v', int(versions[k]))
end

-- ---------------------------------------------------------------------------

-- Reads `m` requests laid out in ARGV from `at`, each as: its time ('store'
-- = the server's TIME, read once for all; else Unix ms), `head - 2` more
-- arguments, a seat count n, and n seat ids. Returns where each request
-- starts, each request's time, and every seat id named (in order, repeats
-- kept), for one HMGET. The seat ids stay in ARGV.
local function read_requests(at, m, head)
  local starts, nows, fields = {}, {}, {}
  local server_now
  for r = 1, m do
    starts[r] = at
    if ARGV[at] ~= 'store' then
      nows[r] = now_ms(ARGV[at])
    else
      server_now = server_now or now_ms('store')
      nows[r] = server_now
    end
    local n = tonumber(ARGV[at + head - 1])
    for j = at + head, at + head - 1 + n do
      fields[#fields + 1] = ARGV[j]
    end
    at = at + head + n
  end
  return starts, nows, fields
end

-- The raw states (false = absent) of the seats `fields` of hash
-- `seats_key`, by seat id.
local function read_states(seats_key, fields)
  local cur = {}
  for i, raw in ipairs(batched('HMGET', seats_key, fields)) do
    cur[fields[i]] = raw
  end
  return cur
end
