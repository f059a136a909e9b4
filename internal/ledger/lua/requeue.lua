-- requeue.lua: put a dead-lettered (failed) session job back into its
-- session, to run again with its attempts counted afresh.
--
-- KEYS[1] run hash of the session      (sq:{S}:run)
-- KEYS[2] pending list of the session  (sq:{S}:pend)
-- KEYS[3] record of the job            (sq:{S}:j:ID)
-- KEYS[4] event stream of the session  (sq:{S}:ev; lib.lua emit: the job is
--         back, pending or parked)
-- ARGV[1] job ID
--
-- Where it goes: at the head of the session when no job submitted after it
-- has started since (the session has not moved on: under policy block the
-- jobs behind it still wait, and they keep waiting behind it), else at the
-- tail, as a new last job (run hash field lss: the sequence number of the
-- last job started, kept by acquire.lua and finish.lua).
--
-- Returns {"gone"} (no record), {"notdead", state} (it did not fail),
-- {"requeued", where, "none"} with where "head" or "tail" (it waits behind
-- a lease or parked jobs), or {"requeued", where, "enqueue", id, gen, queue,
-- pat, type}: the caller enqueues "id:gen".
local st = redis.call('HGET', KEYS[3], 'state')
if not st then return {'gone'} end
if st ~= 'failed' then return {'notdead', st} end
local now = now_ms()
local seq = tonumber(redis.call('HGET', KEYS[3], 'seq')) or 0
local lss = tonumber(redis.call('HGET', KEYS[1], 'lss')) or 0
local where = 'head'
if lss > seq then where = 'tail' end
redis.call('LREM', KEYS[2], 0, ARGV[1])
if where == 'head' then
  redis.call('LPUSH', KEYS[2], ARGV[1])
else
  redis.call('RPUSH', KEYS[2], ARGV[1])
end
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[3])
redis.call('HDEL', KEYS[3], 'ft', 'cmt', 'cx', 'pat')
local gen = redis.call('HINCRBY', KEYS[3], 'gen', 1)
redis.call('HSET', KEYS[3], 'att', 0)
local idle = redis.call('HEXISTS', KEYS[1], 'job') == 0 and redis.call('HEXISTS', KEYS[1], 'paused') == 0
if idle and redis.call('LINDEX', KEYS[2], 0) == ARGV[1] then
  redis.call('HSET', KEYS[3], 'state', 'pending', 'dat', now)
  emit(KEYS[4], 'job.requeued', ARGV[1], 'pending', KEYS[3])
  local n = redis.call('HMGET', KEYS[3], 'queue', 'type')
  return {'requeued', where, 'enqueue', ARGV[1], gen, n[1], 0, n[2]}
end
redis.call('HSET', KEYS[3], 'state', 'parked')
emit(KEYS[4], 'job.requeued', ARGV[1], 'parked', KEYS[3])
return {'requeued', where, 'none'}
