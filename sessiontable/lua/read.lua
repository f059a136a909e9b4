-- read.lua: read a session, refreshing its idle timer unless the read is
-- out-of-session. A missing record means there is no session: nothing else
-- is read (its other keys may still wait for the sweep).
--
-- KEYS[1] session record              (sq:{S}:sess)
-- KEYS[2] parameters of the session    (sq:{S}:p)
-- KEYS[3] parameters of the sub-session (sq:{S}:a:A; KEYS[2] when none)
-- KEYS[4] pending job list             (ledger.BacklogKey)
-- ARGV[1] "1": refresh the idle timer
-- ARGV[2] what to read:
--           "check"  nothing: whether the session is open
--           "info"   the record
--           "param"  the value of parameter ARGV[3]: the sub-session's,
--                    else the session's
--           "params" every parameter of the session and of the sub-session
--           "load"   like params, plus the session's backlog (a job's view)
-- ARGV[3] parameter key (param)
--
-- Returns {0} when there is no session ({0, backlog} for load), else
--   check:  {1}
--   info:   {1, field, value, ...}
--   param:  {1, value or false}
--   params: {1, {k, v, ...}, {k, v, ...}}
--   load:   {1, {k, v, ...}, {k, v, ...}, backlog}
local what = ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then
  if what == 'load' then return {0, backlog(KEYS[4])} end
  return {0}
end
if ARGV[1] == '1' then touch(KEYS[1], now_ms()) end
if what == 'check' then
  return {1}
elseif what == 'info' then
  local r = redis.call('HGETALL', KEYS[1])
  table.insert(r, 1, 1)
  return r
elseif what == 'param' then
  local v = false
  if KEYS[3] ~= KEYS[2] then v = redis.call('HGET', KEYS[3], ARGV[3]) end
  if not v then v = redis.call('HGET', KEYS[2], ARGV[3]) end
  return {1, v}
end
local app = {}
if KEYS[3] ~= KEYS[2] then app = redis.call('HGETALL', KEYS[3]) end
local r = {1, redis.call('HGETALL', KEYS[2]), app}
if what == 'load' then r[4] = backlog(KEYS[4]) end
return r
