/**
 * Every Lua script that writes a subscription or its history. A change of a subscription is one
 * script: the write, `INCR version(t)` and `PUBLISH subscriptionsChanged t` happen together or not
 * at all, so no reader can see the write without the signal (or the signal without the write).
 */

/** The store-counts field of subscriptions without a store filter (no store id contains a space). */
export const EVERY_STORE = 'every store'

// Rebuilds the per-store counts from the records when they are missing (a layout from before quotas,
// or after a bulk import): at most once per tenant, then kept by CREATE and REMOVE.
const COUNT_PER_STORE = `
local function storeOf(json)
  local ok, record = pcall(cjson.decode, json)
  if ok and type(record) == 'table' and type(record.filters) == 'table' and type(record.filters.storeId) == 'string' then
    return record.filters.storeId
  end
  return '${EVERY_STORE}'
end
local function ensureCounts(subscriptionsKey, countsKey)
  if redis.call('EXISTS', countsKey) == 1 or redis.call('HLEN', subscriptionsKey) == 0 then return end
  local all = redis.call('HVALS', subscriptionsKey)
  for _, json in ipairs(all) do redis.call('HINCRBY', countsKey, storeOf(json), 1) end
end
`

// KEYS: fingerprints, subscriptions, version, store counts. ARGV: fingerprint, new id, new record JSON,
// channel, tenant, store (EVERY_STORE without a store filter), most per tenant, most per store.
// Answers {'existing', id} when the fingerprint names a stored subscription (never refused: a
// re-subscribe adds nothing), {'quota', name, limit} when a quota is full (nothing written), else
// {'created', id}. Counting and writing are one step, so concurrent creates cannot overshoot.
export const CREATE = `${COUNT_PER_STORE}
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing and redis.call('HEXISTS', KEYS[2], existing) == 1 then return {'existing', existing} end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[7]) then return {'quota', 'subscriptions', ARGV[7]} end
ensureCounts(KEYS[2], KEYS[4])
if tonumber(redis.call('HGET', KEYS[4], ARGV[6]) or '0') >= tonumber(ARGV[8]) then return {'quota', 'subscriptions-per-store', ARGV[8]} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[4], ARGV[6], 1)
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

// KEYS: subscriptions, fingerprints, version, attempts, failures, store counts. ARGV: id, channel, tenant.
// 1 when removed, 0 when absent. The fingerprint goes only if it still names this id, and a record that
// is not JSON is still removed. Its attempt history and failure streak go with it, and its store's count.
export const REMOVE = `${COUNT_PER_STORE}
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local ok, record = pcall(cjson.decode, current)
if ok and type(record) == 'table' and type(record.fingerprint) == 'string' then
  if redis.call('HGET', KEYS[2], record.fingerprint) == ARGV[1] then redis.call('HDEL', KEYS[2], record.fingerprint) end
end
ensureCounts(KEYS[1], KEYS[6])
redis.call('HDEL', KEYS[1], ARGV[1])
local store = storeOf(current)
if redis.call('HINCRBY', KEYS[6], store, -1) <= 0 then redis.call('HDEL', KEYS[6], store) end
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
