-- progress.lua: record the progress of a running session job, only while it
-- holds the session's lease with its token.
--
-- KEYS[1] run hash of the session      (sq:{S}:run)
-- KEYS[2] record of the job            (sq:{S}:j:ID)
-- ARGV[1] job ID
-- ARGV[2] fencing token
-- ARGV[3] progress, as the jobs package reads it (JSON)
--
-- Returns 1 when recorded, 0 when the token is not current (nothing written).
if not fenced(KEYS[1], ARGV[1], ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], 'prog', ARGV[3])
return 1
