-- hot.lua: note that a session's backlog passed the hot threshold, and say
-- whether to warn about it: at most once per interval per session across
-- every worker.
--
-- KEYS[1] hot sessions (sq:hot): session ID -> "ms backlog" of the last warning
-- ARGV[1] session ID
-- ARGV[2] backlog
-- ARGV[3] interval, ms
--
-- Returns 1 when the caller should warn (the entry was updated), else 0.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local last = tonumber(string.match(cur, '^(%d+)')) or 0
  if now - last < tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], now .. ' ' .. ARGV[2])
return 1
