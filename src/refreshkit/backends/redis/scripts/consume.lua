-- consume: apply refreshkit._policy.transition to one record and its session, atomically.
--
-- KEYS[1]  the session hash (the record lives in it; layout in _codec.py)
-- ARGV     1 'now,idle expiry,max uses,retry since,history'
--            (times in us; '' = none; history: how many retired records a session keeps)
--          2 record selector    3 presented secret (stored form)
--          4 successor selector ('' = rotation off)    5 successor secret
--          6-8 the successor sealed under the presented token, in the parts
--            _codec.sealed_parts cuts ('' = none, else '.' .. value)
--          9 '.' .. device hash (absent when the request has none)
--
-- Returns JSON [outcome, <14 session fields>, record secret, record metadata] with the state
-- as found BEFORE the write (null for a missing field; the record secret is true when it
-- equals the presented one, which the caller already holds); outcome is ROTATED, REPLAYED,
-- REUSED or REJECTED. The guards run in _policy.classify's order: unknown or wrong secret,
-- revoked, expired, device, then the token's own state. REJECTED and REPLAYED write nothing:
-- a replay (a retry of the newest token's predecessor within the retry window) only reports
-- what it found, the session's sealed successor ('x', 'y', 'z') included.
--
-- Only fields near the front of the hash are read on the way to a rotation (a listpack finds
-- a field by scanning from the front): the session and its current record ('k', 'r'). A
-- record that is not current is looked up by its own fields, after its history.
--
-- The history is bounded: a rotation retires one record (the one leaving 'k'/'r') into a
-- ring of `history` slots, field '#<n % history>' naming the n-th retired record's selector
-- ('h' counts them); the record it replaces in that slot, the oldest, is deleted.
local key, selector = KEYS[1], ARGV[2]
local now_text, idle_text, max_uses, retry_since, history =
  string.match(ARGV[1], '^([^,]*),([^,]*),([^,]*),([^,]*),(%d+)$')
local found = redis.call('HMGET', key, 'u', 'c', 'i', 'a', 'l', 't', 'g', 'd', 'p', 'm', 'v',
  'x', 'y', 'z', 'k', 'r', 'h')
local retired_count = tonumber(found[17]) or 0
found[17] = nil
local current_secret, current_meta = found[15], found[16]
local is_current = found[6] == selector and current_secret
if not is_current then
  local record = redis.call('HMGET', key, ':' .. selector, '.' .. selector)
  found[15], found[16] = record[1], record[2]
end
local secret, meta = found[15], found[16]
-- Constant time where it matters: what is compared are SHA-1 digests of both secrets, so
-- the time == takes says nothing about how much of the stored secret the presented one shares.
local same_secret = secret and redis.sha1hex(secret) == redis.sha1hex(ARGV[3])

-- One JSON string rather than a 17-element array: far cheaper for the client to parse.
local function reply(outcome)
  if same_secret then found[15] = true end
  for index = 1, 16 do
    if not found[index] then found[index] = cjson.null end
  end
  table.insert(found, 1, outcome)
  return cjson.encode(found)
end

if not found[1] or not meta or not same_secret then return reply('REJECTED') end
local revoked = found[11]
if revoked and revoked ~= '' and string.byte(revoked) ~= 44 then return reply('REJECTED') end
local now = tonumber(now_text)
local absolute = tonumber(found[4])
if now >= math.min(tonumber(found[3]), absolute) then return reply('REJECTED') end
local device = found[8]
if device and device ~= '' and device ~= ARGV[9] then return reply('REJECTED') end

local generation, created, consumed, uses, parent = string.match(meta,
  '^(%-?%d+),(%-?%d+),(%-?%d*),(%d+),(.*)$')
generation, uses = tonumber(generation), tonumber(uses)
local session_generation = tonumber(found[7])
local current = consumed == '' and generation == session_generation

local function slide_expiry()
  local ends = math.min(tonumber(idle_text), absolute)
  redis.call('PEXPIREAT', key, string.format('%.0f', math.ceil(ends / 1000)))
end

local function record_meta(gen, made, spent, count, from)
  return string.format('%d,%s,%s,%d,%s', gen, made, spent, count, from)
end

local successor = ARGV[4]
if successor == '' then
  if not current then return reply('REJECTED') end
  if max_uses ~= '' and uses >= tonumber(max_uses) then return reply('REJECTED') end
  redis.call('HSET', key, is_current and 'r' or '.' .. selector,
    record_meta(generation, created, consumed, uses + 1, parent), 'i', idle_text, 'l', now_text)
  slide_expiry()
  return reply('REUSED')
end

if not current then
  -- The newest token's predecessor, consumed within the retry window: a retry. The newest
  -- token is unconsumed by construction (a rotation makes it, only a rotation consumes it).
  local is_retry = retry_since ~= '' and consumed ~= ''
    and tonumber(consumed) > tonumber(retry_since) and generation == session_generation - 1
  return reply(is_retry and 'REPLAYED' or 'REJECTED')
end

-- The successor becomes the current record; the one it replaces joins the history.
local used = record_meta(generation, created, now_text, uses + 1, parent)
local successor_generation = session_generation + 1
local writes = {'k', ARGV[5], 'r', record_meta(successor_generation, now_text, '', 0, selector),
  'g', successor_generation, 't', successor, 'x', ARGV[6], 'y', ARGV[7], 'z', ARGV[8],
  'i', idle_text, 'l', now_text, '.' .. selector, used}
if not found[12] then
  -- Stored before sealed successors existed: drop the retired grace counter with them.
  redis.call('HDEL', key, 'n')
end
local leaving, leaving_secret, leaving_meta
if is_current then
  leaving, leaving_secret, leaving_meta = selector, secret, used
elseif current_secret and current_meta then
  leaving, leaving_secret, leaving_meta = found[6], current_secret, current_meta
end
if leaving then
  local slot = '#' .. (retired_count % tonumber(history))
  -- Slots below the count were never written under this history: nothing to read there.
  local oldest = retired_count >= tonumber(history) and redis.call('HGET', key, slot)
  if oldest ~= selector then
    if oldest then redis.call('HDEL', key, ':' .. oldest, '.' .. oldest) end
    table.insert(writes, ':' .. leaving)
    table.insert(writes, leaving_secret)
    if leaving ~= selector then
      table.insert(writes, '.' .. leaving)
      table.insert(writes, leaving_meta)
    end
    table.insert(writes, slot)
    table.insert(writes, leaving)
    table.insert(writes, 'h')
    table.insert(writes, retired_count + 1)
  end
  -- Otherwise the oldest slot holds the presented record, which stays: the displaced
  -- current record is the one dropped, so the ring never grows.
end
redis.call('HSET', key, unpack(writes))
slide_expiry()
return reply('ROTATED')
