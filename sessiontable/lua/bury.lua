-- bury.lua: decide whether the session a TID binding names is live, in
-- flight, or dead, and make a dead one stay dead: a marker that create.lua
-- refuses, so that a creation still in flight can never come alive after
-- its TID was taken over.
--
-- KEYS[1] session record  (sq:{S}:sess)
-- KEYS[2] session marker  (sq:{S}:x: "pending" while its creation is in
--                          flight, "dead" once buried or ended)
-- ARGV[1] the TID the caller found bound to S
-- ARGV[2] how long the marker lasts, ms (the creation grace)
-- ARGV[3] "1": bury a creation in flight too (the caller replaces the TID)
--
-- Returns "live" (the record exists and was created with that TID),
-- "other" (the record exists but names another TID or none), "pending"
-- (no record yet, its creation is in flight), or "dead".
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'tid') == ARGV[1] then return 'live' end
  return 'other'
end
if ARGV[3] ~= '1' and redis.call('GET', KEYS[2]) == 'pending' then return 'pending' end
redis.call('SET', KEYS[2], 'dead', 'PX', ARGV[2])
return 'dead'
