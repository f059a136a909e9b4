-- acquire.lua: take the session's lease for a dispatched job, if it is the
-- job's turn, and hand back what the worker needs to run it.
--
-- KEYS[1] run hash of the session      (sq:{S}:run)
-- KEYS[2] pending list of the session  (sq:{S}:pend)
-- KEYS[3] record of the job            (sq:{S}:j:ID)
-- KEYS[4] session table record         (sq:{S}:sess; may not exist)
-- KEYS[5] event stream of the session  (sq:{S}:ev; lib.lua emit)
-- ARGV[1] job ID
-- ARGV[2] dispatch generation carried by the asynq task
-- ARGV[3] worker ID
-- ARGV[4] lease duration, ms
--
-- Returns one of:
--   {"gone"}            no record (expired or deleted): drop the task
--   {"done", state}     the job already ended: drop the task (duplicate)
--   {"stale"}           the task's generation is not the record's: drop it
--   {"busy"}            this very job holds a live lease elsewhere: drop it
--   {"wait"}            not the job's turn: it is parked, drop the task; it
--                       is dispatched again when its turn comes
--   {"paused"}          the session is paused (pause.lua): the job is parked
--                       and dispatched again when the session is resumed
--   {"ok", token, attempt, type, payload, queue, maxr, tmo, policy, app, oos, seq, active, backlog, committed, created}
--                       the lease is taken with fencing token `token`; the
--                       fields after it are take_lease's (lib.lua)
--
-- It reads the record once (RUN_FIELDS) and the run hash once, and writes
-- each once: nine commands on the way to "ok" while nobody follows the
-- session's events.
local f = redis.call('HMGET', KEYS[3], unpack(RUN_FIELDS))
if not f[1] then return {'gone'} end
local st = f[1]
if ended(st) then return {'done', st} end
if f[2] ~= ARGV[2] then return {'stale'} end
local now = now_ms()
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[1] then
  redis.call('HSET', KEYS[3], 'state', 'parked')
  return {'wait'}
end
local l = redis.call('HMGET', KEYS[1], 'job', 'until', 'paused', 'fence')
if l[1] and tonumber(l[2]) > now then
  if l[1] == ARGV[1] then return {'busy'} end
  return {'wait'}
end
if l[3] then
  redis.call('HSET', KEYS[3], 'state', 'parked')
  return {'paused'}
end
return take_lease({'ok'}, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], f, l[4], now,
  tonumber(ARGV[4]), ARGV[3], false)
