-- publish.lua: a process says it handles a job type, for ttl from now.
--
-- KEYS[1]  sq:handlers:TYPE, a sorted set: member a process ID, score the
--          server time (ms) until which its entry is live
-- ARGV[1]  process ID
-- ARGV[2]  ttl, in ms (a positive integer)
--
-- Returns the number of live entries after the write. Entries past their
-- time are removed; the key expires with its newest entry.
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], newest[2])
return redis.call('ZCARD', KEYS[1])
