-- enroll.lua: put a session being created into the sweep index, so that
-- whatever its creation leaves behind is cleaned up even if the creator
-- dies. The sweep looks at it at now + grace at the latest; the creator
-- brings that forward to the session's expiry once the record exists.
--
-- KEYS[1] the sweep index (sq:sessions)
-- ARGV[1] member "S|U|T"
-- ARGV[2] grace, ms
--
-- Returns now, server ms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
