-- cancel.lua: cancel a session job that has not ended.
--
-- KEYS[1] run hash of the session      (sq:{S}:run)
-- KEYS[2] pending list of the session  (sq:{S}:pend)
-- KEYS[3] record of the job            (sq:{S}:j:ID)
-- ARGV[1] job ID
-- ARGV[2] retention of the cancelled record, ms
-- ARGV[3] job record key prefix of the session (sq:{S}:j:)
--
-- Returns one of:
--   {"gone"}                       no such job
--   {"done", state}                it had ended already; nothing changed
--   {"requested"}                  it is running: its worker cancels it at
--                                  its next lease renewal and ends it cancelled
--   {"cancelled", "none"}          removed from the session; nothing to dispatch
--   {"cancelled", "enqueue", id, gen, queue, pat, type}
--                                  removed from the head of an idle session:
--                                  the caller enqueues the next job "id:gen"
local st = redis.call('HGET', KEYS[3], 'state')
if not st then return {'gone'} end
if st == 'succeeded' or st == 'failed' or st == 'cancelled' then return {'done', st} end
local holder = redis.call('HGET', KEYS[1], 'job')
if holder == ARGV[1] then
  redis.call('HSET', KEYS[3], 'cx', 1)
  return {'requested'}
end
local now = now_ms()
local wasHead = redis.call('LINDEX', KEYS[2], 0) == ARGV[1]
redis.call('LREM', KEYS[2], 1, ARGV[1])
redis.call('HSET', KEYS[3], 'state', 'cancelled', 'ft', now)
redis.call('PEXPIRE', KEYS[3], ARGV[2])
local nxt = redis.call('LINDEX', KEYS[2], 0)
if not wasHead or holder or not nxt then return {'cancelled', 'none'} end
local nk = ARGV[3] .. nxt
local gen = redis.call('HINCRBY', nk, 'gen', 1)
redis.call('HSET', nk, 'state', 'pending', 'dat', now)
local n = redis.call('HMGET', nk, 'queue', 'pat', 'type')
return {'cancelled', 'enqueue', nxt, gen, n[1], tonumber(n[2]) or 0, n[3]}
