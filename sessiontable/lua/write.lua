-- write.lua: change a session's parameters and (Redis storage) files as one
-- step, only while the session is open and, for a job, only while the job's
-- fencing token is the session's current lease token. Every limit is checked
-- before anything is written: a refused change writes nothing.
--
-- KEYS[1] session record               (sq:{S}:sess)
-- KEYS[2] run hash of the session       (sq:{S}:run)
-- KEYS[3] parameters of the session     (sq:{S}:p)
-- KEYS[4] application IDs of the session (sq:{S}:apps)
-- KEYS[5] parameters of the sub-session (sq:{S}:a:A; KEYS[3] when none)
-- KEYS[6] files of the session          (sq:{S}:f)
-- KEYS[7] record of the job writing back (sq:{S}:j:ID; KEYS[1] when none)
-- ARGV[1] "1": refresh the idle timer
-- ARGV[2] fencing token, '' for a change that is not a job's
-- ARGV[3] job ID holding the lease (with a token)
-- ARGV[4] application ID, '' for the session's own parameters
-- ARGV[5] most parameters of the session or of one sub-session
-- ARGV[6] most sub-sessions
-- ARGV[7] most files (0: no limit)
-- ARGV[8] most bytes of all files together (0: no limit)
-- ARGV[9] the job's result (a job's write-back only)
-- ARGV[10..] the change, as counted lists:
--   n, then n parameter key, value pairs to set
--   n, then n parameter keys to delete
--   n, then n file name, content pairs to write
--   n, then n file names to delete
--
-- Returns {"ok"} | {"gone"} (no session) | {"stale"} (token not current) |
--   {"limit", what, limit, would-be} with what "params", "apps", "files" or
--   "bytes"
--
-- The ledger's keys and fields are the ledger's (ledger.WriteBackKeys, and
-- fenced and commit of ledger.LuaLib): this script names none of them.
-- A job's write-back (ARGV[2] set) that succeeds also marks the job's record
-- committed, with the job's result (commit). The ledger then never
-- runs that job again, even if its worker dies before it finishes it: the
-- next holder of the lease only finishes it (finish.lua outcome
-- "committed"), so a session holds a job's changes exactly once.
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
if ARGV[2] ~= '' and not fenced(KEYS[2], ARGV[3], ARGV[2]) then return {'stale'} end

local i = 10
local function list(width)
  local n = tonumber(ARGV[i])
  local out = {}
  for j = i + 1, i + n * width do out[#out + 1] = ARGV[j] end
  i = i + n * width + 1
  return out
end
local psets, pdels, fputs, fdels = list(2), list(1), list(2), list(1)

local ph = KEYS[3]
if ARGV[4] ~= '' then ph = KEYS[5] end
if #psets > 0 or #pdels > 0 then
  local n = redis.call('HLEN', ph)
  for j = 1, #psets, 2 do
    if redis.call('HEXISTS', ph, psets[j]) == 0 then n = n + 1 end
  end
  for _, k in ipairs(pdels) do
    if redis.call('HEXISTS', ph, k) == 1 then n = n - 1 end
  end
  local max = tonumber(ARGV[5])
  if n > max then return {'limit', 'params', max, n} end
  if ARGV[4] ~= '' and n > 0 and redis.call('SISMEMBER', KEYS[4], ARGV[4]) == 0 then
    local apps, maxa = redis.call('SCARD', KEYS[4]) + 1, tonumber(ARGV[6])
    if apps > maxa then return {'limit', 'apps', maxa, apps} end
  end
end

if #fputs > 0 or #fdels > 0 then
  local maxf, maxb = tonumber(ARGV[7]), tonumber(ARGV[8])
  local n, size = redis.call('HLEN', KEYS[6]), 0
  if maxb > 0 then
    for _, name in ipairs(redis.call('HKEYS', KEYS[6])) do
      size = size + redis.call('HSTRLEN', KEYS[6], name)
    end
  end
  for j = 1, #fputs, 2 do
    if redis.call('HEXISTS', KEYS[6], fputs[j]) == 0 then n = n + 1 end
    size = size + #fputs[j + 1] - redis.call('HSTRLEN', KEYS[6], fputs[j])
  end
  for _, name in ipairs(fdels) do
    if redis.call('HEXISTS', KEYS[6], name) == 1 then n = n - 1 end
    size = size - redis.call('HSTRLEN', KEYS[6], name)
  end
  if maxf > 0 and n > maxf then return {'limit', 'files', maxf, n} end
  if maxb > 0 and size > maxb then return {'limit', 'bytes', maxb, size} end
end

if #psets > 0 then redis.call('HSET', ph, unpack(psets)) end
if #pdels > 0 then redis.call('HDEL', ph, unpack(pdels)) end
if ARGV[4] ~= '' and (#psets > 0 or #pdels > 0) then
  if redis.call('EXISTS', ph) == 1 then
    redis.call('SADD', KEYS[4], ARGV[4])
  else
    redis.call('SREM', KEYS[4], ARGV[4])
  end
end
if #fputs > 0 then redis.call('HSET', KEYS[6], unpack(fputs)) end
if #fdels > 0 then redis.call('HDEL', KEYS[6], unpack(fdels)) end
if ARGV[1] == '1' then touch(KEYS[1], now_ms()) end
if ARGV[2] ~= '' then commit(KEYS[7], ARGV[2], ARGV[9]) end
return {'ok'}
