-- finish.lua: end one run of the job holding the session lease, and move the
-- session on: retry the job in place, or pass the lease to the next job
-- (inline on this worker, "affinity") or release it and dispatch the next job.
--
-- KEYS[1] run hash of the session      (sq:{S}:run)
-- KEYS[2] pending list of the session  (sq:{S}:pend)
-- KEYS[3] record of the job            (sq:{S}:j:ID)
-- KEYS[4] session table record         (sq:{S}:sess; may not exist)
-- KEYS[5] event stream of the session  (sq:{S}:ev; lib.lua emit: the run's
--         end, and the start of a next job run inline)
-- ARGV[1]  job ID
-- ARGV[2]  fencing token of this run
-- ARGV[3]  outcome: "ok", "fail", "cancel" (asked to cancel: ends cancelled)
--          or "committed" (succeeded in an earlier run that wrote its session
--          changes and its result back, field cmt, but did not finish)
-- ARGV[4]  result (ok, already capped) or error text (fail)
-- ARGV[5]  retention of the finished record, ms
-- ARGV[6]  job record key prefix of the session (sq:{S}:j:)
-- ARGV[7]  worker ID
-- ARGV[8]  lease duration, ms
-- ARGV[9]  "1" when the worker may run the next job inline
-- ARGV[10] the worker's queues as ",q1,q2,"
-- ARGV[11] retry delay, ms (fail only)
-- ARGV[12] retention of the run hash once the session has nothing left, ms
--          (its fencing tokens never repeat: see take_lease in lib.lua)
-- ARGV[13] "1" when the failure must not be retried (final)
-- ARGV[14] the job types the worker handles as ",t1,t2,", or "" for any: a
--          next job of another type is dispatched, never run inline
--
-- Returns one of:
--   {"stale"}                        the token is not current: nothing changed
--   {"retry", gen, queue, process-at ms, type}
--                                    the job stays at the head, retrying; the
--                                    caller enqueues task "ID:gen" to run then
--   {"finished", state, queue, false, next, ...}
--                                    the job ended in state "succeeded",
--                                    "failed" (dead-lettered) or "cancelled",
--                                    queue its queue (the caller counts the
--                                    end: QueueCounts)
-- and, when the job ended:
--   next = "none"                    the session is empty, or paused (its next
--                                    job stays parked); lease released
--   next = "enqueue", id, gen, queue, process-at ms, type
--                                    lease released; caller enqueues "id:gen"
--   next = "run", id, token, attempt, type, payload, queue, maxr, tmo, policy, app, oos, seq, active, backlog, committed, created
--                                    the lease now belongs to job id with a
--                                    new token; this worker runs it at once
--
-- On the way to "succeeded" with nothing behind, nine commands while nobody
-- follows the session's events; a next job run inline adds its read and
-- the lease's writes (take_lease).
local l = fenced(KEYS[1], ARGV[1], ARGV[2], 'paused', 'fence')
if not l then return {'stale'} end
local now = now_ms()
local this, queue
if ARGV[3] == 'fail' then
  local f = redis.call('HMGET', KEYS[3], 'att', 'maxr', 'policy', 'queue', 'type', 'gen')
  if ARGV[13] ~= '1' and f[3] ~= 'skip' and tonumber(f[1]) <= tonumber(f[2]) then
    local gen = (tonumber(f[6]) or 0) + 1
    local at = now + tonumber(ARGV[11])
    redis.call('HSET', KEYS[3], 'err', ARGV[4], 'gen', gen, 'state', 'retrying', 'dat', now, 'pat', at)
    clear_lease(KEYS[1])
    emit(KEYS[5], 'job.retrying', ARGV[1], 'retrying', KEYS[3])
    return {'retry', gen, f[4], at, f[5]}
  end
  this, queue = 'failed', f[4]
  redis.call('HSET', KEYS[3], 'state', 'failed', 'ft', now, 'err', ARGV[4])
elseif ARGV[3] == 'cancel' then
  this = 'cancelled'
  redis.call('HSET', KEYS[3], 'state', 'cancelled', 'ft', now, 'err', ARGV[4])
elseif ARGV[3] == 'committed' then
  this = 'succeeded'
  redis.call('HSET', KEYS[3], 'state', 'succeeded', 'ft', now)
else
  this = 'succeeded'
  redis.call('HSET', KEYS[3], 'state', 'succeeded', 'ft', now, 'res', ARGV[4])
end
queue = queue or redis.call('HGET', KEYS[3], 'queue')
redis.call('PEXPIRE', KEYS[3], ARGV[5])
emit(KEYS[5], 'job.ended', ARGV[1], this, KEYS[3])
-- The job is the head of the list but for a cancel that raced: pop it, and
-- put back what was popped when it is not.
local head = redis.call('LPOP', KEYS[2])
if head and head ~= ARGV[1] then
  redis.call('LPUSH', KEYS[2], head)
  redis.call('LREM', KEYS[2], 1, ARGV[1])
end
local nxt = redis.call('LINDEX', KEYS[2], 0)
local paused = l[3] and true or false
if not nxt or paused then
  clear_lease(KEYS[1])
  if not nxt and not paused then redis.call('PEXPIRE', KEYS[1], ARGV[12]) end
  if nxt then redis.call('HSET', ARGV[6] .. nxt, 'state', 'parked') end
  return {'finished', this, queue, false, 'none'}
end
local nk = ARGV[6] .. nxt
if ARGV[9] == '1' then
  -- The worker may run it: read all it needs at once.
  local n = redis.call('HMGET', nk, unpack(RUN_FIELDS))
  local pat = tonumber(n[15]) or 0
  if pat <= now and n[7] and string.find(ARGV[10], ',' .. n[7] .. ',', 1, true)
      and (not ARGV[14] or ARGV[14] == '' or string.find(ARGV[14], ',' .. (n[5] or '') .. ',', 1, true)) then
    return take_lease({'finished', this, queue, false, 'run', nxt}, KEYS[1], KEYS[2], nk, KEYS[4], KEYS[5], nxt,
      n, l[4], now, tonumber(ARGV[8]), ARGV[7], true)
  end
end
local n = redis.call('HMGET', nk, 'queue', 'pat', 'type', 'gen')
local pat = tonumber(n[2]) or 0
clear_lease(KEYS[1])
local gen = (tonumber(n[4]) or 0) + 1
redis.call('HSET', nk, 'state', 'pending', 'dat', now, 'gen', gen)
return {'finished', this, queue, false, 'enqueue', nxt, gen, n[1], pat, n[3]}
