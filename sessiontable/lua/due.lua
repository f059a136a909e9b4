-- due.lua: the sessions the sweep must look at now.
--
-- KEYS[1] the sweep index (sq:sessions)
-- ARGV[1] most members to return
--
-- Returns {now, member, ...}: members whose score is now or earlier,
-- earliest first.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local r = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
table.insert(r, 1, now)
return r
