-- The hand-written Redis refresh: redis_rotate.lua plus the subject the access token needs.
--
-- KEYS[1] the family hash {c = current token id, h = its secret hash, s = subject}
-- ARGV    1 presented id  2 presented hash  3 successor id  4 successor hash  5 expiry (ms)
-- Returns the subject when rotated, false when refused.
local found = redis.call('HMGET', KEYS[1], 'c', 'h', 's')
if found[1] ~= ARGV[1] or found[2] ~= ARGV[2] then return false end
redis.call('HSET', KEYS[1], 'c', ARGV[3], 'h', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return found[3]
