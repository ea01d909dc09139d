-- cutoff: record a subject's cutoff unless a later one is stored; reply with the one stored.
--
-- KEYS[1] the subject's cutoff hash; ARGV 1 before (us)  2 reason  3 recorded at (us).
-- Fields: b before, r reason, a recorded at. Monotonic: only ever moves later.
local current = redis.call('HGET', KEYS[1], 'b')
if not current or tonumber(ARGV[1]) > tonumber(current) then
  redis.call('HSET', KEYS[1], 'b', ARGV[1], 'r', ARGV[2], 'a', ARGV[3])
end
return redis.call('HMGET', KEYS[1], 'b', 'r', 'a')
