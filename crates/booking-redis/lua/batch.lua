-- batch.lua: helpers (after lib.lua) for the scripts that decide several
-- requests of one show in one call (`hold_batch.lua`, `release_batch.lua`).

-- Appends one change-feed event per entry `{hold, items, version}` of
-- `entries`, as `emit` would one by one: the show's event counter is
-- raised once by their number and the entries numbered in order.
local function emit_many(meta_key, feed_key, maxlen, kind, entries)
  local k = #entries
  if k == 0 then
    return
  end
  local seq = call('HINCRBY', meta_key, 'seq', int(k)) - k
  for i, e in ipairs(entries) do
    call('XADD', feed_key, 'MAXLEN', '~', maxlen, '*', 'n', int(seq + i), 'k', kind, 'h', e[1], 'o', '', 'i', e[2], 'v',
      int(e[3]))
  end
end

-- ---------------------------------------------------------------------------
