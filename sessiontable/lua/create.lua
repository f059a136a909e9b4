-- create.lua: create a session record, and its first parameters.
--
-- KEYS[1] session record            (sq:{S}:sess)
-- KEYS[2] parameters of the session (sq:{S}:p)
-- KEYS[3] session marker            (sq:{S}:x; see bury.lua)
-- ARGV[1] when the creation began, server ms (its first cross-slot step)
-- ARGV[2] grace, ms: a creation that reaches this script later than
--         ARGV[1] + ARGV[2] is refused, since the sweep may have cleaned up
--         its first steps by then
-- ARGV[3] owner
-- ARGV[4] TID, '' for none
-- ARGV[5] idle timeout, ms (> 0)
-- ARGV[6] lifetime, ms (0: none)
-- ARGV[7..] parameter key, value pairs
--
-- Returns {"ok", now, expires-at ms} | {"late"} | {"buried"} (its TID was
-- taken over meanwhile) | {"exists"}
local now = now_ms()
if now > tonumber(ARGV[1]) + tonumber(ARGV[2]) then return {'late'} end
if redis.call('GET', KEYS[3]) == 'dead' then return {'buried'} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local idle, life = tonumber(ARGV[5]), tonumber(ARGV[6])
local dl = 0
if life > 0 then dl = now + life end
redis.call('HSET', KEYS[1], 'own', ARGV[3], 'ct', now, 'la', now, 'idle', idle, 'dl', dl)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'tid', ARGV[4]) end
local exp = now + idle
if dl > 0 and dl < exp then exp = dl end
redis.call('PEXPIREAT', KEYS[1], exp)
redis.call('DEL', KEYS[3])
if #ARGV > 6 then redis.call('HSET', KEYS[2], unpack(ARGV, 7)) end
return {'ok', now, exp}
