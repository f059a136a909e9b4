-- bind.lua: bind an idempotency key to what its first submit asked for, or
-- say what it is bound to.
--
-- KEYS[1] the binding (sq:idk:{J}, J the job ID derived from owner and key)
-- KEYS[2] the job's ID index (sq:ji:{J}, same slot)
-- ARGV[1] kind: "plain" or "session"
-- ARGV[2] session ID ("" for a plain job)
-- ARGV[3] queue
-- ARGV[4] job type
-- ARGV[5] life of a new binding, ms
--
-- Returns {"new"} when the key was free and is now bound to ARGV;
-- {"bound", kind, session, queue, type} when a binding exists (the caller
-- compares it with what it asked; nothing changed); {"index", session} when
-- there is no binding but a session job of that ID lives in another session
-- than asked, or the submit is not a session job (nothing changed). A
-- session job whose binding outlived its life but whose index still stands
-- keeps the key: only a submit to its own session binds it again.
local b = redis.call('HMGET', KEYS[1], 'kind', 'sess', 'queue', 'type')
if b[1] then
  return {'bound', b[1], b[2] or '', b[3] or '', b[4] or ''}
end
local s = redis.call('GET', KEYS[2])
if s and (ARGV[1] ~= 'session' or s ~= ARGV[2]) then
  return {'index', s}
end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'sess', ARGV[2], 'queue', ARGV[3], 'type', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'new'}
