-- cancel.lua: cancel a session job that has not ended.
--
-- KEYS[1] run hash of the session      (sq:{S}:run)
-- KEYS[2] pending list of the session  (sq:{S}:pend)
-- KEYS[3] record of the job            (sq:{S}:j:ID)
-- KEYS[4] event stream of the session  (sq:{S}:ev; lib.lua emit: the end of a
--         job cancelled or skipped while it waited)
-- ARGV[1] job ID
-- ARGV[2] retention of the cancelled record, ms
-- ARGV[3] job record key prefix of the session (sq:{S}:j:)
-- ARGV[4] "cancel", or "skip": dead-letter the session's head on purpose
--         (ends failed; only while it is the head and does not run)
--
-- Returns one of:
--   {"gone"}                       no such job
--   {"done", state}                it had ended already; nothing changed
--   {"requested"}                  it is running: its worker cancels it at
--                                  its next lease renewal and ends it cancelled
--   {"running"}                    skip: the head runs; nothing changed
--   {"cancelled", "none", q}       removed from the session; nothing to dispatch
--   {"cancelled", "enqueue", id, gen, queue, pat, type, q}
--                                  removed from the head of an idle session:
--                                  the caller enqueues the next job "id:gen"
--                                  (never while the session is paused)
-- where q is the queue of the job that ended (the caller counts the end:
-- QueueCounts).
--   {"moved"}                      skip: the job is not the head (any more)
-- With "skip", "cancelled" means skipped: the job ended failed.
local st = redis.call('HGET', KEYS[3], 'state')
if not st then return {'gone'} end
if ended(st) then return {'done', st} end
local holder = redis.call('HGET', KEYS[1], 'job')
local skip = ARGV[4] == 'skip'
if skip and redis.call('LINDEX', KEYS[2], 0) ~= ARGV[1] then return {'moved'} end
if holder == ARGV[1] then
  if skip then return {'running'} end
  redis.call('HSET', KEYS[3], 'cx', 1)
  return {'requested'}
end
local now = now_ms()
local q = redis.call('HGET', KEYS[3], 'queue') or ''
local wasHead = redis.call('LINDEX', KEYS[2], 0) == ARGV[1]
redis.call('LREM', KEYS[2], 1, ARGV[1])
if skip then
  redis.call('HSET', KEYS[3], 'state', 'failed', 'ft', now, 'err', 'skipped by an operator (session skip)')
else
  redis.call('HSET', KEYS[3], 'state', 'cancelled', 'ft', now)
end
redis.call('PEXPIRE', KEYS[3], ARGV[2])
emit(KEYS[4], 'job.ended', ARGV[1], skip and 'failed' or 'cancelled', KEYS[3])
local nxt = redis.call('LINDEX', KEYS[2], 0)
if not wasHead or holder or not nxt or redis.call('HEXISTS', KEYS[1], 'paused') == 1 then
  return {'cancelled', 'none', q}
end
local nk = ARGV[3] .. nxt
local gen = redis.call('HINCRBY', nk, 'gen', 1)
redis.call('HSET', nk, 'state', 'pending', 'dat', now)
local n = redis.call('HMGET', nk, 'queue', 'pat', 'type')
return {'cancelled', 'enqueue', nxt, gen, n[1], tonumber(n[2]) or 0, n[3], q}
