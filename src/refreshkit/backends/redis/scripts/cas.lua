-- cas: one compare-and-set on one session hash, generically (refreshkit.backends.base.apply_update).
--
-- KEYS[1]  the session hash (layout in _codec.py)
-- ARGV[1]  the program: entries of three bytes, op, field, value reference, checks first:
--            '=' f r  the field equals the value       '-' f _  the field is absent
--            '?' f r  absent, or equals the value      '>' f r  present and after the value
--            '<' f r  present and below the value        (both: decimal integers)
--          then the changes, applied only if every check held:
--            's' f r  set the field to the value       'd' f _  delete the field
--            'i' f _  add one to the field             'D' _ r  delete the fields named in the
--                                                               value, one per line
--          A reference is one byte: '0' is the first value, '1' the second... (a value is sent
--          once however many entries use it). After the entries: a space and the values'
--          lengths in bytes, comma-separated.
-- ARGV[2]  the values, joined.
--
-- Returns one string: '0' when there is no such session; else '1' (applied) or '0' (not),
-- followed by the session as a JSON object of its fields: as found when nothing was applied;
-- after the write when applied, except the fields the program set (the caller sent those).
-- The script knows no field and no rule: the caller expresses all of it in the program. It only
-- keeps the hash's PEXPIREAT at min(i, a) (idle, absolute expiry: µs) after every write.
--
-- Equality is Lua string equality: strings are interned, so it compares two pointers and takes
-- the same time however much of a stored secret hash a presented one shares.
local key = KEYS[1]
local found = redis.call('HGETALL', key)
if #found == 0 then return '0' end
local s = {}
for i = 1, #found, 2 do s[found[i]] = found[i + 1] end

local byte, sub = string.byte, string.sub
local program, lengths = string.match(ARGV[1], '^(%S*) (.*)$')
local values, blob, at = {}, ARGV[2], 1
for length in string.gmatch(lengths, '%d+') do
  local after = at + tonumber(length)
  values[#values + 1] = sub(blob, at, after - 1)
  at = after
end

-- a < b for two decimal integers without leading zeros, exact beyond 2^53.
local function less(a, b)
  local neg = byte(a) == 45
  if neg ~= (byte(b) == 45) then return neg end
  if #a ~= #b then return (#a < #b) ~= neg end
  if a == b then return false end
  return (a < b) ~= neg
end

local size, p = #program, 1
while p <= size do
  local op = byte(program, p)
  if op > 64 then break end -- a letter: the changes begin
  local stored = s[sub(program, p + 1, p + 1)]
  local holds
  if op == 45 then
    holds = stored == nil
  else
    local value = values[byte(program, p + 2) - 47]
    if op == 61 then
      holds = stored == value
    elseif op == 63 then
      holds = stored == nil or stored == value
    elseif op == 62 then
      holds = stored ~= nil and less(value, stored)
    else
      holds = stored ~= nil and less(stored, value)
    end
  end
  if not holds then return '0' .. cjson.encode(s) end
  p = p + 3
end

if p > size then return '1' .. cjson.encode(s) end
local writes, deletes, set = {}, {}, {}
while p <= size do
  local op, field = byte(program, p), sub(program, p + 1, p + 1)
  if op == 115 then
    local value = values[byte(program, p + 2) - 47]
    s[field] = value
    set[#set + 1] = field
    writes[#writes + 1] = field
    writes[#writes + 1] = value
  elseif op == 100 then
    s[field] = nil
    deletes[#deletes + 1] = field
  elseif op == 105 then
    local value = string.format('%d', (tonumber(s[field]) or 0) + 1)
    s[field] = value
    writes[#writes + 1] = field
    writes[#writes + 1] = value
  else
    for name in string.gmatch(values[byte(program, p + 2) - 47], '[^\n]+') do
      s[name] = nil
      deletes[#deletes + 1] = name
    end
  end
  p = p + 3
end
if #deletes > 0 then redis.call('HDEL', key, unpack(deletes)) end
if #writes > 0 then redis.call('HSET', key, unpack(writes)) end

-- The session ends at min(idle, absolute), in µs; PEXPIREAT wants ms, rounded up.
local idle, absolute = s['i'], s['a']
if idle and absolute then
  local ends = less(idle, absolute) and idle or absolute
  local ms
  if byte(ends) == 45 or #ends <= 3 then
    ms = string.format('%.0f', math.ceil(tonumber(ends) / 1000))
  else
    ms = sub(ends, 1, -4)
    if sub(ends, -3) ~= '000' then ms = string.format('%.0f', tonumber(ms) + 1) end
  end
  redis.call('PEXPIREAT', key, ms)
end
for i = 1, #set do s[set[i]] = nil end
return '1' .. cjson.encode(s)
