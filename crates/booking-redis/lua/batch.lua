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
