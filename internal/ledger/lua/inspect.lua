-- inspect.lua: read the run state of a session for the reconciler.
--
-- KEYS[1] run hash of the session      (sq:{S}:run)
-- KEYS[2] pending list of the session  (sq:{S}:pend)
-- ARGV[1] job record key prefix of the session (sq:{S}:j:)
--
-- Returns {now, pending, head, lockJob, lockTok, lockUntil, state, gen, dat, queue, pat, paused}
-- with false for what is absent; pending is the length of the list; paused
-- is "1" while the session is paused.
local now = now_ms()
local n = backlog(KEYS[2])
local head = redis.call('LINDEX', KEYS[2], 0)
local l = redis.call('HMGET', KEYS[1], 'job', 'tok', 'until', 'paused')
if not head then
  return {now, n, false, l[1], l[2], l[3], false, false, false, false, false, l[4]}
end
local h = redis.call('HMGET', ARGV[1] .. head, 'state', 'gen', 'dat', 'queue', 'pat')
return {now, n, head, l[1], l[2], l[3], h[1], h[2], h[3], h[4], h[5], l[4]}
