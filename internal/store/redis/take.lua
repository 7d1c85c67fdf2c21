-- take.lua: Store.Take, atomically. See doc.go for the keys and
-- store.go for the arguments, which Go has already validated and reduced to
-- integers below 2^53, so that Lua's doubles hold them exactly.
--
-- KEYS[i]  the counter of limit i
-- ARGV[1]  now in microseconds, or '' for the server's clock (TIME)
-- ARGV[2]  the lease term of a concurrency slot, in microseconds
-- ARGV[3]  the request ID, the member of the concurrency sets
-- ARGV[4]  how long a budget outlives its window, in milliseconds
-- then for each limit, 7 values from ARGV[5 + 7(i-1)]:
--   class   'r' requests or 't' tokens per minute, 'b' budget, 'c' concurrency
--   max     Max, at most 2^52
--   amount  per minute: the interval to add to the TAT (more than a minute
--           if the cost exceeds Max); budget: the cost (at most 2^52+1)
--   b1..b4  budget: three consecutive windows [b1,b2) [b2,b3) [b3,b4),
--           one of which holds now
--
-- Reply: {now, 0, a1, b1, a2, b2, ...} when granted, with per limit
-- (TAT, 0), (used, window end) or (live leases, 0); {now, i, wait} when
-- limit i refused for wait microseconds, the longest wait of all.

local MINUTE = 60000000
local MAX = 4503599627370496 -- 2^52
local CONCURRENT_RETRY = 1000000

local function int(x) return string.format('%d', x) end
local function ms(d) return math.floor(d / 1000) + 1 end -- at least d

local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local term, id, margin = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])

local function window(o)
  for j = o, o + 2 do
    local s, e = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
    if s <= now and now < e then return s, e end
  end
  return nil
end

-- Check every limit, keeping what the take needs.
local state = {}
local worst, worstWait = 0, 0
for i = 1, #KEYS do
  local o = 5 + 7 * (i - 1)
  local class, max, amount = ARGV[o], tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2])
  local k = KEYS[i]
  local wait = 0
  if class == 'c' then
    redis.call('ZREMRANGEBYSCORE', k, '-inf', int(now)) -- leases live while now < expiry
    if redis.call('ZCARD', k) >= max then wait = CONCURRENT_RETRY end
  elseif class == 'b' then
    local h = redis.call('HMGET', k, 'used', 'start', 'end')
    local used, s, e = tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(h[3]) or 0
    if now >= e then
      s, e = window(o + 3)
      if not s then
        return redis.error_reply('scopegate: the server clock is more than a day from the gateway clock')
      end
      used = 0
    end
    if amount > max - used then wait = e - now end
    state[i] = {used, s, e}
  else
    if amount > MINUTE then
      wait = MINUTE -- a cost above Max never passes
    else
      local tat = tonumber(redis.call('GET', k)) or 0
      local t = math.min(math.max(tat, now) + amount, MAX)
      if t - now > MINUTE then wait = t - now - MINUTE end
      state[i] = t
    end
  end
  if wait > worstWait then worst, worstWait = i, wait end
end
if worst > 0 then return {now, worst, worstWait} end

-- Take from every limit.
local reply = {now, 0}
for i = 1, #KEYS do
  local o = 5 + 7 * (i - 1)
  local class, amount = ARGV[o], tonumber(ARGV[o + 2])
  local k = KEYS[i]
  local a, b = 0, 0
  if class == 'c' then
    redis.call('ZADD', k, int(now + term), id)
    local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
    redis.call('PEXPIRE', k, ms(tonumber(top[2]) - now)) -- the latest lease
    a = redis.call('ZCARD', k)
  elseif class == 'b' then
    local st = state[i]
    a, b = st[1] + amount, st[3]
    redis.call('HSET', k, 'used', int(a), 'start', int(st[2]), 'end', int(b))
    redis.call('PEXPIRE', k, ms(b - now) + margin)
  else
    local t = state[i]
    if t > now then
      redis.call('SET', k, int(t), 'PX', ms(t - now))
      a = t
    else
      redis.call('DEL', k) -- a passed TAT is a fresh counter
    end
  end
  reply[#reply + 1] = a
  reply[#reply + 1] = b
end
return reply
