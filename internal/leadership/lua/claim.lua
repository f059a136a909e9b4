-- claim.lua: take or keep a leadership lease.
--
-- KEYS[1] the lease key (sq:leader:NAME)
-- ARGV[1] candidate ID
-- ARGV[2] term length, ms
--
-- Returns 1 when the candidate holds the lease for a new term (taken or
-- renewed), 0 when another candidate holds it.
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
