-- pause.lua: pause or resume a session. A paused session starts no job: a
-- job dispatched to it is parked at acquire, the job running when it was
-- paused finishes and its successor stays parked. It works for any session
-- ID, with or without a session record; the pause lasts until resumed.
--
-- KEYS[1] run hash of the session      (sq:{S}:run)
-- KEYS[2] pending list of the session  (sq:{S}:pend)
-- ARGV[1] "pause" or "resume"
-- ARGV[2] job record key prefix of the session (sq:{S}:j:)
-- ARGV[3] retention of the run hash of a resumed session with nothing left, ms
--
-- Returns {"paused"}, {"resumed", "none"}, or, when a resume finds the head
-- waiting with no lease, {"resumed", "enqueue", id, gen, queue, pat, type}:
-- the caller enqueues "id:gen".
if ARGV[1] == 'pause' then
  redis.call('HSET', KEYS[1], 'paused', 1)
  redis.call('PERSIST', KEYS[1])
  return {'paused'}
end
redis.call('HDEL', KEYS[1], 'paused')
local head = redis.call('LINDEX', KEYS[2], 0)
if not head then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'resumed', 'none'}
end
if redis.call('HEXISTS', KEYS[1], 'job') == 1 then return {'resumed', 'none'} end
local hk = ARGV[2] .. head
local now = now_ms()
local gen = redis.call('HINCRBY', hk, 'gen', 1)
if redis.call('HGET', hk, 'state') == 'parked' then redis.call('HSET', hk, 'state', 'pending') end
redis.call('HSET', hk, 'dat', now)
local n = redis.call('HMGET', hk, 'queue', 'pat', 'type')
return {'resumed', 'enqueue', head, gen, n[1], tonumber(n[2]) or 0, n[3]}
