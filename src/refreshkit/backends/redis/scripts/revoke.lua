-- revoke: mark one session revoked, keeping the first revocation (monotonic, idempotent).
--
-- KEYS[1] the session hash; ARGV 1 now (us)  2 reason.
-- Returns 1 if this call revoked it, 0 if unknown or already revoked.
if redis.call('HEXISTS', KEYS[1], 'u') == 0 or redis.call('HEXISTS', KEYS[1], 'v') == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'w', ARGV[2])
return 1
