-- deny: deny an access token until ARGV[1] (us); a later deadline wins, never an earlier one.
--
-- KEYS[1] the denial string; ARGV 1 until (us)  2 until (ms, PEXPIREAT).
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
