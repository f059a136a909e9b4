-- deletedead.lua: delete the record of a dead-lettered (failed) session job.
--
-- KEYS[1] record of the job (sq:{S}:j:ID)
--
-- Returns {"deleted"} when the record was in state failed and is gone now,
-- {"gone"} when there was no record, else {"notdead", state} (nothing
-- changed).
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'gone'} end
if st ~= 'failed' then return {'notdead', st} end
redis.call('DEL', KEYS[1])
return {'deleted'}
