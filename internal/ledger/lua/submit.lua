-- submit.lua: append a job to its session's ledger and say whether it may be
-- dispatched now. Idempotent on the job ID.
--
-- KEYS[1] run hash of the session      (sq:{S}:run)
-- KEYS[2] pending list of the session  (sq:{S}:pend)
-- KEYS[3] record of the new job        (sq:{S}:j:ID)
-- KEYS[4] session table record         (sq:{S}:sess; may not exist)
-- KEYS[5] event stream of the session  (sq:{S}:ev; lib.lua emit: the new job,
--         pending or parked)
-- ARGV[1] job ID
-- ARGV[2] "1" when the job is out-of-session: it does not refresh the
--         session's inactivity timer
-- ARGV[3] most unfinished jobs the session may hold, this one included (0: no cap)
-- ARGV[4..] field, value pairs of the new record (without seq/state/gen/ct/dat)
--
-- A job that is not out-of-session touches the session record (lib.lua
-- touch: its idle timer starts again).
--
-- Returns {verdict, state, seq, gen}:
--   {"exists", state, seq, gen}   the record was already there; nothing changed
--   {"dispatch", "pending", seq, 1} the job heads an idle session (not paused): the caller
--                                   enqueues the asynq task "ID:1"
--   {"parked", "parked", seq, 0}  the job waits in the ledger for its turn
--   {"full", false, backlog, 0}   the session holds ARGV[3] unfinished jobs
--                                 already: nothing was written
-- Time is Redis server time (TIME), in milliseconds.
if redis.call('EXISTS', KEYS[3]) == 1 then
  local v = redis.call('HMGET', KEYS[3], 'state', 'seq', 'gen')
  return {'exists', v[1], tonumber(v[2]), tonumber(v[3])}
end
local cap = tonumber(ARGV[3])
if cap > 0 then
  local n = backlog(KEYS[2])
  if n >= cap then return {'full', false, n, 0} end
end
local now = now_ms()
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('PERSIST', KEYS[1])
redis.call('HSET', KEYS[3], unpack(ARGV, 4))
if ARGV[2] ~= '1' then touch(KEYS[4], now) end
local n = redis.call('RPUSH', KEYS[2], ARGV[1])
if n == 1 and redis.call('HEXISTS', KEYS[1], 'job') == 0 and redis.call('HEXISTS', KEYS[1], 'paused') == 0 then
  redis.call('HSET', KEYS[3], 'seq', seq, 'state', 'pending', 'gen', 1, 'ct', now, 'dat', now)
  emit(KEYS[5], 'job.submitted', ARGV[1], 'pending', KEYS[3], seq)
  return {'dispatch', 'pending', seq, 1}
end
redis.call('HSET', KEYS[3], 'seq', seq, 'state', 'parked', 'gen', 0, 'ct', now)
emit(KEYS[5], 'job.submitted', ARGV[1], 'parked', KEYS[3], seq)
return {'parked', 'parked', seq, 0}
