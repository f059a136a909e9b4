-- lib.lua: helpers prepended to every script on a session's keys (see
-- scripts.go), so that each script refreshes the idle timer exactly as the
-- ledger's submit.lua does.
--
-- now_ms() is Redis server time in milliseconds.
-- touch(rec, now) sets the record's last access (la) to now and makes it
-- expire at now + idle, capped by its absolute deadline dl (idle 0: no idle
-- timeout; dl 0: no deadline).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function touch(rec, now)
  local r = redis.call('HMGET', rec, 'idle', 'dl')
  local idle, dl = tonumber(r[1]) or 0, tonumber(r[2]) or 0
  local exp = 0
  if idle > 0 then exp = now + idle end
  if dl > 0 and (exp == 0 or dl < exp) then exp = dl end
  redis.call('HSET', rec, 'la', now)
  if exp > 0 then redis.call('PEXPIREAT', rec, exp) end
end
