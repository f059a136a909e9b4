-- handlers.lua: the processes that handle a job type now.
--
-- KEYS[1]  sq:handlers:TYPE (see publish.lua)
--
-- Returns the process IDs whose entries are live at the server's time,
-- sorted.
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
