-- consume: apply refreshkit._policy.transition to one record and its session, atomically.
--
-- KEYS[1]  the session hash (the record lives in it)
-- ARGV     1 record selector     2 presented secret (stored form)   3 now (us)
--          4 new idle expiry (us)    5 successor selector ('' = rotation off)
--          6 successor secret        7 device hash ('' = none)      8 max uses ('' = none)
--          9 grace since (us, '' = no grace)                        10 max grace reuses
--
-- Returns JSON [outcome, <13 session fields>, record secret, record metadata] (false for a
-- missing field) with the state
-- as found BEFORE the write; outcome is ROTATED, GRACE_REISSUED, REUSED or REJECTED.
-- The guards run in _policy.classify's order: unknown/wrong secret, revoked, expired,
-- device, then the token's own state. REJECTED writes nothing.
local key = KEYS[1]
local selector, presented, now_text = ARGV[1], ARGV[2], ARGV[3]
local found = redis.call('HMGET', key, 'u', 'c', 'i', 'a', 'l', 't', 'g', 'n', 'd', 'p', 'm',
  'v', 'w', ':' .. selector, '.' .. selector)
-- One JSON string rather than a 16-element array: far cheaper for the client to parse.
local function reply(outcome)
  table.insert(found, 1, outcome)
  return cjson.encode(found)
end

-- Constant-time comparison of two stored secrets.
local function same_secret(stored, given)
  if #stored ~= #given then return false end
  local difference = 0
  for index = 1, #stored do
    difference = bit.bor(difference, bit.bxor(stored:byte(index), given:byte(index)))
  end
  return difference == 0
end

local secret, meta = found[14], found[15]
if not found[1] or not secret or not meta or not same_secret(secret, presented) then
  return reply('REJECTED')
end
if found[12] then return reply('REJECTED') end
local now = tonumber(now_text)
local absolute = tonumber(found[4])
if now >= math.min(tonumber(found[3]), absolute) then return reply('REJECTED') end
if found[9] and found[9] ~= ARGV[7] then return reply('REJECTED') end

local generation, created, consumed, uses, parent = string.match(meta,
  '^(%-?%d+),(%-?%d+),(%-?%d*),(%d+),(.*)$')
generation, uses = tonumber(generation), tonumber(uses)
local session_generation = tonumber(found[7])
local current = consumed == '' and generation == session_generation

local function slide_expiry()
  local ends = math.min(tonumber(ARGV[4]), absolute)
  redis.call('PEXPIREAT', key, string.format('%.0f', math.ceil(ends / 1000)))
end

local function record_meta(gen, made, spent, count, from)
  return string.format('%d,%s,%s,%d,%s', gen, made, spent, count, from)
end

if ARGV[5] == '' then
  if not current then return reply('REJECTED') end
  if ARGV[8] ~= '' and uses >= tonumber(ARGV[8]) then return reply('REJECTED') end
  redis.call('HSET', key, '.' .. selector, record_meta(generation, created, consumed, uses + 1,
    parent), 'i', ARGV[4], 'l', now_text)
  slide_expiry()
  return reply('REUSED')
end

local outcome, successor_generation, consumed_now, grace_reuses
if current then
  outcome, successor_generation, consumed_now, grace_reuses =
    'ROTATED', session_generation + 1, now_text, 0
else
  local in_grace = ARGV[9] ~= '' and consumed ~= '' and tonumber(consumed) > tonumber(ARGV[9])
    and generation == session_generation - 1 and tonumber(found[8]) < tonumber(ARGV[10])
  if not in_grace then return reply('REJECTED') end
  outcome, successor_generation, consumed_now, grace_reuses =
    'GRACE_REISSUED', session_generation, consumed, tonumber(found[8]) + 1
end
local successor = ARGV[5]
redis.call('HSET', key,
  '.' .. selector, record_meta(generation, created, consumed_now, uses + 1, parent),
  ':' .. successor, ARGV[6],
  '.' .. successor, record_meta(successor_generation, now_text, '', 0, selector),
  'g', successor_generation, 't', successor, 'n', grace_reuses, 'i', ARGV[4], 'l', now_text)
slide_expiry()
return reply(outcome)
