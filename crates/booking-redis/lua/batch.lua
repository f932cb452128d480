-- batch.lua: helpers (after lib.lua) for the scripts that decide several
-- requests of one show in one call (`hold_batch.lua`, `release_batch.lua`).

-- Appends the change-feed events of holds `holds[i]` (items `items[i]`,
-- version `versions[i]`, all of kind `kind` and without an order), as
-- `emit` would one by one, but in one stream entry: the show's event
-- counter is raised once by their number, the entry's `n` is the number of
-- its first event and `c` the number of events, and `h`, `i` and `v` list
-- the events' holds, items and versions, separated by ';' (items hold only
-- digits, ',' and ':'). One event is written as `emit` writes it. One
-- entry instead of one per event is most of what a batch saves on the feed:
-- each command a script calls costs about as much as the command itself.
local function emit_many(meta_key, feed_key, maxlen, kind, holds, items, versions)
  local k = #holds
  if k == 0 then
    return
  end
  if k == 1 then
    return emit(meta_key, feed_key, maxlen, kind, holds[1], '', items[1], versions[1])
  end
  -- table.concat writes numbers with %.14g: exact for versions below 10^14.
  local seq = call('HINCRBY', meta_key, 'seq', int(k)) - k + 1
  call('XADD', feed_key, 'MAXLEN', '~', maxlen, '*', 'n', int(seq), 'c', int(k), 'k', kind, 'h',
    table.concat(holds, ';'), 'o', '', 'i', table.concat(items, ';'), 'v', table.concat(versions, ';'))
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
