-- lib.lua: pieces every ledger script shares. It is prepended to each
-- script when the script is built (ledger.go), so a script file may call
-- these as if they were its own. It defines functions only: no KEYS, ARGV
-- or return value of its own.

-- now_ms is Redis server time (TIME), in milliseconds.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- next_token returns the next fencing token of the session whose run hash
-- is run: one more than the last one, and never below now * 1000, so that
-- tokens keep growing even when the run hash expired (it does once the
-- session has been idle for a retention period) and was created again.
local function next_token(run, now)
  local tok = redis.call('HINCRBY', run, 'fence', 1)
  local floor = now * 1000
  if tok < floor then
    redis.call('HSET', run, 'fence', string.format('%.0f', floor))
    tok = floor
  end
  return tok
end

-- run_reply appends to the table head what a worker needs to run the job
-- whose record is key jk, after it took the session's lease with token tok
-- on attempt att, and returns head: head..., tok, att, type, payload, queue, maxr, tmo, policy, app, oos, seq,
--  active, backlog, committed, created, where active is 1 when the session record
-- (sess) exists, backlog counts the session's unfinished jobs (pend), this
-- one included, and committed is the token with which this job's session
-- changes were already written back (write.lua of the session table), or
-- false: such a job must not run again, only be finished; created is the
-- job's submit time (ms).
local function run_reply(head, jk, sess, pend, tok, att)
  local f = redis.call('HMGET', jk, 'type', 'payload', 'queue', 'maxr', 'tmo', 'policy', 'app', 'oos', 'seq', 'cmt', 'ct')
  for _, v in ipairs({tok, att, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9],
      redis.call('EXISTS', sess), redis.call('LLEN', pend), f[10], f[11]}) do
    head[#head + 1] = v
  end
  return head
end

-- emit appends an event to the session's event stream ev (sq:{S}:ev): what
-- happened to job id (typ: job.started, job.retrying, job.ended), its state
-- and sequence number, but only while the stream exists: the gateway
-- creates it when a client follows the session's events and keeps it alive
-- while it does, so that a session nobody follows pays one EXISTS. The
-- stream keeps about the last 100 events and lives 10 minutes past its last
-- event or follow: long enough for a client to resume by entry ID after a
-- dropped connection.
local function emit(ev, typ, id, state, seq)
  if redis.call('EXISTS', ev) == 0 then return end
  redis.call('XADD', ev, 'MAXLEN', '~', 100, '*', 'type', typ, 'job', id, 'state', state, 'seq', seq or '')
  redis.call('PEXPIRE', ev, 600000)
end
