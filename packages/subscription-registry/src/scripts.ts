/**
 * Every Lua script that writes a subscription or its history. A change of a subscription is one
 * script: the write, `INCR version(t)` and `PUBLISH subscriptionsChanged t` happen together or not
 * at all, so no reader can see the write without the signal (or the signal without the write).
 */

// KEYS: fingerprints, subscriptions, version. ARGV: fingerprint, new id, new record JSON, channel, tenant.
// Answers {'existing', id} when the fingerprint names a stored subscription, else {'created', id}.
export const CREATE = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing and redis.call('HEXISTS', KEYS[2], existing) == 1 then return {'existing', existing} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return {'created', ARGV[2]}
`

// KEYS: subscriptions, version, then any keys that go with the write (a disable clears the failure
// streak). ARGV: id, expected JSON, new JSON, channel, tenant.
// Compare-and-set: 1 when written, 0 when the record changed since it was read, -1 when it is gone.
export const REPLACE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return -1 end
if current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`

// KEYS: subscriptions, fingerprints, version, attempts, failures. ARGV: id, channel, tenant.
// 1 when removed, 0 when absent. The fingerprint goes only if it still names this id, and a record that
// is not JSON is still removed. Its attempt history and failure streak go with it.
export const REMOVE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local ok, record = pcall(cjson.decode, current)
if ok and type(record) == 'table' and type(record.fingerprint) == 'string' then
  if redis.call('HGET', KEYS[2], record.fingerprint) == ARGV[1] then redis.call('HDEL', KEYS[2], record.fingerprint) end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[4], KEYS[5])
redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`

// KEYS: deadLetters, deadLettersByTime. ARGV: id, JSON, now ms, oldest kept ms, most kept, max age ms.
// Writes one record and trims the tenant's archive by age and by size in the same step. Trimming only
// happens on a write, so both keys also expire one maximum age after the latest write: a tenant that
// stops getting dead letters does not keep its old ones forever.
export const ARCHIVE = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
for _, id in ipairs(old) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
`
