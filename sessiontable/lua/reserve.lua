-- reserve.lua: count a new session against its owner's quota.
--
-- KEYS[1] open sessions of the owner (sq:own:{U})
-- ARGV[1] session ID
-- ARGV[2] most open sessions of one owner (0: no limit)
--
-- Returns {"ok", now} when the session was added, or {"full", now, count}
-- when the owner holds ARGV[2] sessions already (the caller may prune the
-- index of sessions that ended and try again).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[2])
if max > 0 then
  local n = redis.call('ZCARD', KEYS[1])
  if n >= max then return {'full', now, n} end
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
return {'ok', now}
