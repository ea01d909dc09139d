-- The hand-written baseline: the least a refresh-token rotation can do in Redis.
--
-- KEYS[1] the family hash {c = current token id, h = its secret hash}
-- ARGV    1 presented id  2 presented hash  3 successor id  4 successor hash  5 expiry (ms)
-- Returns 1 when rotated, 0 when refused. No grace, no device binding, no sliding cap,
-- no history for reuse detection: only what a careful developer writes first.
local found = redis.call('HMGET', KEYS[1], 'c', 'h')
if found[1] ~= ARGV[1] or found[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[3], 'h', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1
