-- resign.lua: give up a leadership lease if the candidate holds it.
--
-- KEYS[1] the lease key (sq:leader:NAME)
-- ARGV[1] candidate ID
--
-- Returns 1 when the lease was released, 0 when the candidate did not hold it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
