-- The hand-written Redis rotation: one script call on one hash per session.
--
-- KEYS[1] the session hash {s subject, c current id, h its hash, p/ph previous id/hash,
--         t rotated at, x sealed successor, k chain hash, g generation, u uses,
--         i idle expiry, a absolute expiry (microseconds), l last used, o created,
--         r revoked at}
-- ARGV    1 presented id  2 its hash  3 successor id  4 its hash  5 sealed successor
--         6 now (us)  7 new idle expiry (us)
-- Returns {subject, absolute expiry} when rotated, false when refused.
local f = redis.call('HMGET', KEYS[1], 'c', 'h', 'r', 'i', 'a', 's')
local now = tonumber(ARGV[6])
if f[1] ~= ARGV[1] or f[2] ~= ARGV[2] or f[3] or tonumber(f[4]) <= now
    or tonumber(f[5]) <= now then
  return false
end
redis.call('HSET', KEYS[1], 'c', ARGV[3], 'h', ARGV[4], 'p', ARGV[1], 'ph', ARGV[2],
  't', ARGV[6], 'x', ARGV[5], 'u', 0, 'i', ARGV[7], 'l', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'g', 1)
local absolute = tonumber(f[5])
local idle = tonumber(ARGV[7])
redis.call('PEXPIREAT', KEYS[1], math.floor(math.min(idle, absolute) / 1000))
return {f[6], f[5]}
