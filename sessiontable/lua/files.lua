-- files.lua: list the files of a session in Redis storage.
--
-- KEYS[1] files of the session (sq:{S}:f)
--
-- Returns {name, size, ...}.
local r = {}
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  r[#r + 1] = name
  r[#r + 1] = redis.call('HSTRLEN', KEYS[1], name)
end
return r
