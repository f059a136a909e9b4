-- attr.lua: set an attribute of a session: a field of its record, deleted
-- with it, never seen by jobs. Nothing is written when there is no
-- session, so an ended session is not brought back as a bare record. The
-- idle timer is left alone.
--
-- KEYS[1] session record (sq:{S}:sess)
-- ARGV[1] field ("@" + attribute name)
-- ARGV[2] value
--
-- Returns 1 when set, 0 when there is no session.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
