-- renew.lua: extend a session lease held with a given fencing token.
--
-- KEYS[1] run hash of the session (sq:{S}:run)
-- KEYS[2] record of the job holding the lease (sq:{S}:j:ID)
-- ARGV[1] job ID holding the lease
-- ARGV[2] fencing token
-- ARGV[3] lease duration, ms
--
-- Returns 1 when the lease was extended, 2 when it was extended but the job
-- was asked to cancel (cancel.lua), 0 when it is no longer held with that
-- token (lost: the holder must stop and its writes are refused).
if not fenced(KEYS[1], ARGV[1], ARGV[2]) then return 0 end
local now = now_ms()
redis.call('HSET', KEYS[1], 'until', now + tonumber(ARGV[3]))
if redis.call('HGET', KEYS[2], 'cx') == '1' then return 2 end
return 1
