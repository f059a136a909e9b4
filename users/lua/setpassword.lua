-- setpassword.lua: set or remove a user's password hash and bump the
-- user's auth epoch in one step, so that no login token made before the
-- change authenticates after it.
--
-- KEYS[1]  the user's record (keys.User)
-- ARGV[1]  the new argon2id hash; "" removes the password
--
-- Returns the new auth epoch, or 0 when the user does not exist (nothing
-- is written: a user removed meanwhile is not brought back).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'pw')
else
  redis.call('HSET', KEYS[1], 'pw', ARGV[1])
end
return redis.call('HINCRBY', KEYS[1], 'ae', 1)
