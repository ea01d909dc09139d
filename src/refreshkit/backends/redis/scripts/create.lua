-- create: store a new session (one hash, its first token's hash inside), and/or index it.
--
-- ARGV[1] is the mode: 'both' (standalone Redis: KEYS = {index, session}, one atomic step),
-- 'index' (KEYS = {index}) or 'session' (KEYS = {session}). On a cluster the two live in
-- different slots, so the caller runs 'index' first and 'session' only once it succeeded:
-- a session is never stored without being reachable by revoke_subject.
-- ARGV     2 sid   3 absolute expiry (us)   4 now (us)   5 session end (ms, PEXPIREAT)
--          6.. field, value pairs of the session hash
local mode = ARGV[1]
local next_key = 1
if mode ~= 'session' then
  local index = KEYS[1]
  next_key = 2
  -- Entries whose absolute expiry has passed belong to dead sessions: drop them here,
  -- so an index stays bounded even if purge_expired never runs.
  redis.call('ZREMRANGEBYSCORE', index, '-inf', ARGV[4])
  redis.call('ZADD', index, ARGV[3], ARGV[2])
  local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', index, string.format('%.0f', math.ceil(tonumber(last[2]) / 1000)))
end
if mode ~= 'index' then
  local key = KEYS[next_key]
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(ARGV, 6))
  redis.call('PEXPIREAT', key, ARGV[5])
end
return 1
