-- end.lua: end a session (close), or clean up after one that has ended
-- (sweep): delete its record, its parameters and its sub-sessions. Files are
-- the storage's to purge; index entries and the TID binding live in other
-- slots and are the caller's.
--
-- KEYS[1] session record            (sq:{S}:sess)
-- KEYS[2] parameters of the session (sq:{S}:p)
-- KEYS[3] application IDs           (sq:{S}:apps)
-- KEYS[4] session marker            (sq:{S}:x; see bury.lua)
-- ARGV[1] "close": end the session now; "sweep": clean up only if the
--         record is gone
-- ARGV[2] prefix of the sub-session parameter keys (sq:{S}:a:)
-- ARGV[3] how long the marker lasts, ms
--
-- Returns {"live", expires-at ms or -1} (sweep of an open session: nothing
-- changed) | {"ended", existed} (existed: 1 when a record was deleted). An
-- ended session is marked dead, so that a creation still in flight cannot
-- bring it back after its other keys were cleaned up.
local existed = redis.call('EXISTS', KEYS[1])
if ARGV[1] == 'sweep' and existed == 1 then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then return {'live', -1} end
  return {'live', now_ms() + ttl}
end
for _, a in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('DEL', ARGV[2] .. a)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SET', KEYS[4], 'dead', 'PX', ARGV[3])
return {'ended', existed}
