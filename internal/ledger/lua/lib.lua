-- lib.lua: pieces every ledger script shares. It is prepended to each
-- script when the script is built (ledger.go), so a script file may call
-- these as if they were its own. It defines functions only: no KEYS, ARGV
-- or return value of its own. The session table's scripts get it too
-- (ledger.LuaLib): the idle touch is theirs as much as submit's, and their
-- write-back of a job's changes checks the job's fence and marks it
-- committed here (fenced, commit), so that no other package names a field
-- of the ledger.

-- now_ms is Redis server time (TIME), in milliseconds.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- touch is the idle touch of session record rec (sq:{S}:sess) at now: its
-- last access (la) becomes now and it expires at now + idle, capped by its
-- absolute deadline dl (idle 0: no idle timeout; dl 0: no deadline). A
-- record that does not exist (no idle field) is left alone.
local function touch(rec, now)
  local r = redis.call('HMGET', rec, 'idle', 'dl')
  if not r[1] then return end
  local idle, dl = tonumber(r[1]) or 0, tonumber(r[2]) or 0
  local exp = 0
  if idle > 0 then exp = now + idle end
  if dl > 0 and (exp == 0 or dl < exp) then exp = dl end
  redis.call('HSET', rec, 'la', now)
  if exp > 0 then redis.call('PEXPIREAT', rec, exp) end
end

-- fenced is the check before every write a lease holder makes: whether
-- job id holds the lease of the session whose run hash is run (sq:{S}:run)
-- with fencing token tok (a string, as stored). It returns false when it
-- does not, else the run hash's fields job, tok and then the fields named
-- after tok, read in the same HMGET.
local function fenced(run, id, tok, ...)
  local l = redis.call('HMGET', run, 'job', 'tok', ...)
  if l[1] ~= id or l[2] ~= tok then return false end
  return l
end

-- clear_lease removes the lease from run hash run: nobody holds the
-- session. Its fence (the last token given) stays.
local function clear_lease(run)
  redis.call('HDEL', run, 'job', 'tok', 'until', 'wid')
end

-- commit marks job record jk committed by the run holding token tok, with
-- its result res: its changes to the session are written (the caller's
-- write, in the same script, after fenced), and the job must never run
-- again, only be finished (finish.lua outcome "committed").
local function commit(jk, tok, res)
  redis.call('HSET', jk, 'cmt', tok, 'res', res)
end

-- ended says whether job state st is a final one.
local function ended(st)
  return st == 'succeeded' or st == 'failed' or st == 'cancelled'
end

-- backlog is the number of unfinished jobs of the session whose pending
-- list is pend (sq:{S}:pend).
local function backlog(pend)
  return redis.call('LLEN', pend)
end

-- RUN_FIELDS are the fields of a job record that a lease taken for it reads
-- (take_lease), in this order: an HMGET of them gives f with f[1] state,
-- f[2] gen, f[3] att, f[4] seq, f[5] type, f[6] payload, f[7] queue,
-- f[8] maxr, f[9] tmo, f[10] policy, f[11] app, f[12] oos, f[13] cmt,
-- f[14] ct, f[15] pat.
local RUN_FIELDS = {'state', 'gen', 'att', 'seq', 'type', 'payload', 'queue', 'maxr', 'tmo',
  'policy', 'app', 'oos', 'cmt', 'ct', 'pat'}

-- emit appends an event to the session's event stream ev (sq:{S}:ev): what
-- happened to job id (typ: job.submitted, job.started, job.retrying,
-- job.requeued, job.ended), its state
-- and sequence number (read from its record jk, or seq when given), but only
-- while the stream exists: the gateway creates it when a client follows the
-- session's events and keeps it alive while it does, so that a session
-- nobody follows pays one EXISTS. The stream keeps about the last 100 events
-- and lives 10 minutes past its last event or follow: long enough for a
-- client to resume by entry ID after a dropped connection.
local function emit(ev, typ, id, state, jk, seq)
  if redis.call('EXISTS', ev) == 0 then return end
  seq = seq or redis.call('HGET', jk, 'seq')
  redis.call('XADD', ev, 'MAXLEN', '~', 100, '*', 'type', typ, 'job', id, 'state', state, 'seq', seq or '')
  redis.call('PEXPIRE', ev, 600000)
end

-- take_lease gives the session's lease to job id, whose record is jk and
-- whose fields f are an HMGET of RUN_FIELDS, for worker wid, for ms
-- milliseconds from now. fence is the run hash's field fence as read (the
-- last fencing token given, or false): the new token is one more, and never
-- below now * 1000, so that tokens keep growing even when the run hash
-- expired (it does once the session has been idle for a retention period)
-- and was created again. With newgen the job gets a new dispatch generation
-- too (its queued task, if any, is then stale). It marks the job running,
-- emits its start, and appends to head what the worker needs to run it:
--   tok, att, type, payload, queue, maxr, tmo, policy, app, oos, seq, active,
--   backlog, committed, created
-- where active is 1 when the session record (sess) exists, backlog counts
-- the session's unfinished jobs (pend), this one included, and committed is
-- the token with which this job's session changes were already written back
-- (write.lua of the session table), or false: such a job must not run
-- again, only be finished; created is the job's submit time (ms).
local function take_lease(head, run, pend, jk, sess, ev, id, f, fence, now, ms, wid, newgen)
  local tok = math.max((tonumber(fence) or 0) + 1, now * 1000)
  local stok = string.format('%.0f', tok)
  local att = (tonumber(f[3]) or 0) + 1
  redis.call('HSET', run, 'fence', stok, 'job', id, 'tok', stok, 'until', now + ms, 'wid', wid, 'lss', f[4] or 0)
  if newgen then
    redis.call('HSET', jk, 'state', 'running', 'tok', stok, 'st', now, 'wid', wid, 'att', att,
      'gen', (tonumber(f[2]) or 0) + 1)
  else
    redis.call('HSET', jk, 'state', 'running', 'tok', stok, 'st', now, 'wid', wid, 'att', att)
  end
  emit(ev, 'job.started', id, 'running', jk, f[4])
  for _, v in ipairs({tok, att, f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12], f[4],
      redis.call('EXISTS', sess), backlog(pend), f[13], f[14]}) do
    head[#head + 1] = v
  end
  return head
end
