-- settle.lua: Store.Settle, atomically. See take.lua for the conventions.
--
-- KEYS[i]  the counter of limit i
-- ARGV[1]  now in microseconds, or '' for the server's clock (TIME)
-- ARGV[2]  Taken in microseconds, or '' for now
-- ARGV[3]  the request ID whose leases are dropped
-- ARGV[4]  how long a budget outlives its window, in milliseconds
-- then for each limit, 7 values from ARGV[5 + 7(i-1)]:
--   class   'r' requests or 't' tokens per minute, 'b' budget, 'c' concurrency
--   max     Max, at most 2^52 (unused)
--   amount  tokens per minute: the signed interval to move the TAT by;
--           budget: the signed delta, at most 2^52 either way
--   b1..b4  budget: three consecutive windows, one of which holds now
--
-- Reply: {now, a1, b1, a2, b2, ...} with per limit (TAT, 0),
-- (used, window end) or (live leases, 0).

local MAX = 4503599627370496 -- 2^52

local function int(x) return string.format('%d', x) end
local function ms(d) return math.floor(d / 1000) + 1 end

local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local taken = tonumber(ARGV[2]) or now
local id, margin = ARGV[3], tonumber(ARGV[4])

local function window(o)
  for j = o, o + 2 do
    local s, e = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
    if s <= now and now < e then return s, e end
  end
  return nil
end

local reply = {now}
for i = 1, #KEYS do
  local o = 5 + 7 * (i - 1)
  local class, amount = ARGV[o], tonumber(ARGV[o + 2])
  local k = KEYS[i]
  local a, b = 0, 0
  if class == 'c' then
    redis.call('ZREM', k, id)
    redis.call('ZREMRANGEBYSCORE', k, '-inf', int(now))
    a = redis.call('ZCARD', k) -- an empty set is deleted; the TTL still covers the rest
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
    if amount >= 0 then
      used = math.min(used + amount, MAX)
    elseif s <= taken and taken < e then
      used = math.max(0, used + amount)
    end -- else: a refund for a window that has ended is dropped
    redis.call('HSET', k, 'used', int(used), 'start', int(s), 'end', int(e))
    redis.call('PEXPIRE', k, ms(e - now) + margin)
    a, b = used, e
  else
    local tat = tonumber(redis.call('GET', k)) or 0
    if class == 't' then
      if amount >= 0 then
        tat = math.min(math.max(tat, now) + amount, MAX)
      elseif -amount >= tat - now then
        tat = now
      else
        tat = tat + amount
      end
      if tat > now then
        redis.call('SET', k, int(tat), 'PX', ms(tat - now))
      else
        redis.call('DEL', k) -- a passed TAT is a fresh counter
        tat = 0
      end
    end
    a = tat
  end
  reply[#reply + 1] = a
  reply[#reply + 1] = b
end
return reply
