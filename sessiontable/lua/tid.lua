-- tid.lua: claim or release the binding of a terminal ID (TID) to a session.
-- The binding is a string: the session ID. The caller decides whether the
-- session it names is live (bury.lua); this script only compares and swaps,
-- so that of two claimants at most one wins.
--
-- KEYS[1] the binding (sq:tid:{U/T}: TID T of owner U)
-- ARGV[1] "claim" or "release"
-- ARGV[2] session ID
-- ARGV[3] claim: the binding the caller saw, '' when it saw none
--
-- claim returns {"ok"} when the binding now names ARGV[2], else
--   {"taken", current}: the binding is not what the caller saw ('' none).
-- release returns 1 when the binding named ARGV[2] and was deleted, else 0.
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == 'release' then
  if cur == ARGV[2] then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end
if (cur or '') ~= ARGV[3] then return {'taken', cur or ''} end
redis.call('SET', KEYS[1], ARGV[2])
return {'ok'}
