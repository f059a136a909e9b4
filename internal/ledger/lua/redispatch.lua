-- redispatch.lua: repair a stuck session (reconciler) by dispatching its head
-- job again under a new generation, if nothing moved since it was inspected.
--
-- KEYS[1] run hash of the session      (sq:{S}:run)
-- KEYS[2] pending list of the session  (sq:{S}:pend)
-- KEYS[3] record of the head job       (sq:{S}:j:ID)
-- ARGV[1] head job ID as inspected
-- ARGV[2] its generation as inspected ("" when absent)
-- ARGV[3] the lease token as inspected ("" when no lease)
--
-- Returns {"moved"} when the head, its generation or the lease changed since
-- (nothing done), {"gone"} when the head has no record (it is dropped from the
-- list so the session can go on), else {"redispatched", gen, queue, pat, type}:
-- the lease is cleared and the caller enqueues "ID:gen".
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[1] then return {'moved'} end
if (redis.call('HGET', KEYS[1], 'tok') or '') ~= ARGV[3] then return {'moved'} end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('LPOP', KEYS[2])
  clear_lease(KEYS[1])
  return {'gone'}
end
if (redis.call('HGET', KEYS[3], 'gen') or '') ~= ARGV[2] then return {'moved'} end
local now = now_ms()
clear_lease(KEYS[1])
local gen = redis.call('HINCRBY', KEYS[3], 'gen', 1)
local st = redis.call('HGET', KEYS[3], 'state')
if st == 'running' then
  -- its holder is gone: that run counts as a failed attempt
  redis.call('HSET', KEYS[3], 'err', 'lease expired: worker lost')
end
redis.call('HSET', KEYS[3], 'state', 'pending', 'dat', now)
local f = redis.call('HMGET', KEYS[3], 'queue', 'pat', 'type')
return {'redispatched', gen, f[1], tonumber(f[2]) or 0, f[3]}
