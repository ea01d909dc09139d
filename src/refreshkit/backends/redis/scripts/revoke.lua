-- revoke: mark one session revoked, keeping the first revocation (monotonic, idempotent).
--
-- KEYS[1] the session hash; ARGV 1 now (us)  2 reason.
-- Returns 1 if this call revoked it, 0 if unknown or already revoked. The field 'v' is ''
-- (or ',<reason>') while the session is not revoked, '<at>[,<reason>]' once it is.
local found = redis.call('HMGET', KEYS[1], 'u', 'v')
local revoked = found[2]
if not found[1] or (revoked and revoked ~= '' and string.byte(revoked) ~= 44) then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1] .. ',' .. ARGV[2])
return 1
