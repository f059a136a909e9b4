-- due.lua: compare-and-set on one shard of the repair index (the reconciler's
-- side; see internal/keys/repair.go). Each entry is changed only if its score
-- is still the one the reconciler read, so that a submit or a lease taken
-- since (which change the score) always wins.
--
-- KEYS[1] one shard of the repair index (sq:due:{N})
-- ARGV[1] "remove" or "move"
-- ARGV[2..] triples: session, score as read, new score ("move"; "" with "remove")
--
-- Returns the sessions changed.
local out = {}
for i = 2, #ARGV, 3 do
  local cur = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if cur and tonumber(cur) == tonumber(ARGV[i + 1]) then
    if ARGV[1] == 'remove' then
      redis.call('ZREM', KEYS[1], ARGV[i])
    else
      redis.call('ZADD', KEYS[1], ARGV[i + 2], ARGV[i])
    end
    out[#out + 1] = ARGV[i]
  end
end
return out
