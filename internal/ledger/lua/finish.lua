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
--          (its fencing tokens never repeat: see next_token in lib.lua)
-- ARGV[13] "1" when the failure must not be retried (final)
--
-- Returns {this, a, b, c, next, ...}:
--   this = "stale"                   the token is not current: nothing changed
--   this = "retry", a=gen, b=queue, c=process-at ms, d=type
--                                    the job stays at the head; the caller
--                                    enqueues task "ID:gen" to run at c
--   this = "succeeded" | "failed" | "cancelled"
--                                    the job ended (failed: dead-lettered)
-- and, when the job ended:
--   next = "none"                    the session is empty, or paused (its next
--                                    job stays parked); lease released
--   next = "enqueue", id, gen, queue, process-at ms, type
--                                    lease released; caller enqueues "id:gen"
--   next = "run", id, token, attempt, type, payload, queue, maxr, tmo, policy, app, oos, seq, active, backlog, committed, created
--                                    the lease now belongs to job id with a
--                                    new token; this worker runs it at once
local l = redis.call('HMGET', KEYS[1], 'job', 'tok')
if l[1] ~= ARGV[1] or l[2] ~= ARGV[2] then return {'stale'} end
local now = now_ms()
local this
if ARGV[3] == 'fail' then
  local f = redis.call('HMGET', KEYS[3], 'att', 'maxr', 'policy', 'queue', 'type')
  redis.call('HSET', KEYS[3], 'err', ARGV[4])
  if ARGV[13] ~= '1' and f[3] ~= 'skip' and tonumber(f[1]) <= tonumber(f[2]) then
    local gen = redis.call('HINCRBY', KEYS[3], 'gen', 1)
    local at = now + tonumber(ARGV[11])
    redis.call('HSET', KEYS[3], 'state', 'retrying', 'dat', now, 'pat', at)
    redis.call('HDEL', KEYS[1], 'job', 'tok', 'until', 'wid')
    emit(KEYS[5], 'job.retrying', ARGV[1], 'retrying', redis.call('HGET', KEYS[3], 'seq'))
    return {'retry', gen, f[4], at, f[5]}
  end
  this = 'failed'
  redis.call('HSET', KEYS[3], 'state', 'failed', 'ft', now)
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
redis.call('PEXPIRE', KEYS[3], ARGV[5])
emit(KEYS[5], 'job.ended', ARGV[1], this, redis.call('HGET', KEYS[3], 'seq'))
if redis.call('LINDEX', KEYS[2], 0) == ARGV[1] then
  redis.call('LPOP', KEYS[2])
else
  redis.call('LREM', KEYS[2], 1, ARGV[1])
end
local nxt = redis.call('LINDEX', KEYS[2], 0)
local paused = redis.call('HEXISTS', KEYS[1], 'paused') == 1
if not nxt or paused then
  redis.call('HDEL', KEYS[1], 'job', 'tok', 'until', 'wid')
  if not nxt and not paused then redis.call('PEXPIRE', KEYS[1], ARGV[12]) end
  if nxt then redis.call('HSET', ARGV[6] .. nxt, 'state', 'parked') end
  return {this, false, false, false, 'none'}
end
local nk = ARGV[6] .. nxt
local n = redis.call('HMGET', nk, 'queue', 'pat', 'type')
local pat = tonumber(n[2]) or 0
if ARGV[9] == '1' and pat <= now and n[1] and string.find(ARGV[10], ',' .. n[1] .. ',', 1, true) then
  local tok = next_token(KEYS[1], now)
  redis.call('HSET', KEYS[1], 'job', nxt, 'tok', tok, 'until', now + tonumber(ARGV[8]), 'wid', ARGV[7])
  local att = redis.call('HINCRBY', nk, 'att', 1)
  redis.call('HINCRBY', nk, 'gen', 1)
  redis.call('HSET', nk, 'state', 'running', 'tok', tok, 'st', now, 'wid', ARGV[7])
  local nseq = redis.call('HGET', nk, 'seq')
  redis.call('HSET', KEYS[1], 'lss', nseq or 0)
  emit(KEYS[5], 'job.started', nxt, 'running', nseq)
  return run_reply({this, false, false, false, 'run', nxt}, nk, KEYS[4], KEYS[2], tok, att)
end
redis.call('HDEL', KEYS[1], 'job', 'tok', 'until', 'wid')
local gen = redis.call('HINCRBY', nk, 'gen', 1)
redis.call('HSET', nk, 'state', 'pending', 'dat', now)
return {this, false, false, false, 'enqueue', nxt, gen, n[1], pat, n[3]}
