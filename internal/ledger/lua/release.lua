-- release.lua: give back a session lease without ending the job (graceful
-- shutdown): the job stays at the head, is not charged an attempt, and gets a
-- new dispatch generation so that any older task for it is dropped.
--
-- KEYS[1] run hash of the session      (sq:{S}:run)
-- KEYS[2] pending list of the session  (sq:{S}:pend)
-- KEYS[3] record of the job            (sq:{S}:j:ID)
-- ARGV[1] job ID
-- ARGV[2] fencing token
--
-- Returns {"stale"} when the token is not current (nothing changed), else
-- {"released", gen, queue, process-at ms, type}: the caller enqueues "ID:gen".
if not fenced(KEYS[1], ARGV[1], ARGV[2]) then return {'stale'} end
local now = now_ms()
clear_lease(KEYS[1])
redis.call('HINCRBY', KEYS[3], 'att', -1)
local gen = redis.call('HINCRBY', KEYS[3], 'gen', 1)
redis.call('HSET', KEYS[3], 'state', 'pending', 'dat', now)
local f = redis.call('HMGET', KEYS[3], 'queue', 'pat', 'type')
return {'released', gen, f[1], tonumber(f[2]) or 0, f[3]}
