-- periodic_mark.lua: record that the tick of a periodic job was handled,
-- if no later tick was recorded already (two leaders may overlap for a
-- moment: the record only moves forward).
--
-- KEYS[1] fire record of the periodic job (sq:periodic:NAME)
-- ARGV[1] the tick, ms since epoch
-- ARGV[2] ID of the job submitted for it ("" when the tick was skipped)
-- ARGV[3] when it was submitted, ms since epoch
--
-- Returns 1 when the record moved forward, 0 when it held a tick as late
-- or later (nothing changed).
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if last >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'last', ARGV[1])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'job', ARGV[2], 'fired', ARGV[3])
end
return 1
