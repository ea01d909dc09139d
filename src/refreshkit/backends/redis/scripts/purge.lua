-- purge: delete a session hash, or an access denial, that ended at or before ARGV[2] (us).
--
-- KEYS[1] the key; ARGV 1 kind ('session' or 'denial')  2 now (us).
-- Returns {1, subject} for a deleted session (so the caller can unindex it), {1} for a
-- deleted denial, {0} when the key is absent or still live.
local key, now = KEYS[1], tonumber(ARGV[2])
if ARGV[1] == 'denial' then
  local until_text = redis.call('GET', key)
  if until_text and tonumber(until_text) <= now then
    redis.call('DEL', key)
    return {1}
  end
  return {0}
end
local found = redis.call('HMGET', key, 'u', 'i', 'a')
if not found[1] then return {0} end
if math.min(tonumber(found[2]), tonumber(found[3])) <= now then
  redis.call('DEL', key)
  return {1, found[1]}
end
return {0}
