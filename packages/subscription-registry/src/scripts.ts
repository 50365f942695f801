/**
 * Every Lua script that writes a subscription or its history, and the index reads. A change of a
 * subscription is one script: the write, its per-store index entry, `INCR version(t)` and the
 * `PUBLISH subscriptionsChanged` naming the tenant, subscription, event type and store happen together
 * or not at all, so no reader can see the write without the signal (or the signal without the write).
 * Index set names are built in the scripts from the tenant's prefix (ARGV) and the record: the same
 * hash tag as the declared keys, so the same cluster slot.
 */

import { EVERY_STORE } from './layout.js'

export { EVERY_STORE }

// What the scripts read from a record (its store, its index set) and how they signal a change; and the
// rebuild of the per-store counts from the records when they are missing (a layout from before quotas,
// or after a bulk import): at most once per tenant, then kept by CREATE and REMOVE.
const RECORD_HELPERS = `
local function storeOf(json)
  local ok, record = pcall(cjson.decode, json)
  if ok and type(record) == 'table' and type(record.filters) == 'table' and type(record.filters.storeId) == 'string' then
    return record.filters.storeId
  end
  return '${EVERY_STORE}'
end
-- The per-store index set a record belongs in (prefix .. eventType .. ':' .. store), its event type and
-- store; nil for a record that is not JSON or names no event type (it matches no event anyway).
local function indexOf(prefix, json)
  local ok, record = pcall(cjson.decode, json)
  if not ok or type(record) ~= 'table' or type(record.eventType) ~= 'string' then return nil end
  local store = storeOf(json)
  return prefix .. record.eventType .. ':' .. store, record.eventType, store
end
-- The change signal: the tenant, then the subscription, its event type and store when there is one.
local function signal(channel, tenant, id, eventType, store)
  if eventType then redis.call('PUBLISH', channel, tenant .. '\\n' .. id .. '\\n' .. eventType .. '\\n' .. store)
  else redis.call('PUBLISH', channel, tenant) end
end
local function ensureCounts(subscriptionsKey, countsKey)
  if redis.call('EXISTS', countsKey) == 1 or redis.call('HLEN', subscriptionsKey) == 0 then return end
  local all = redis.call('HVALS', subscriptionsKey)
  for _, json in ipairs(all) do redis.call('HINCRBY', countsKey, storeOf(json), 1) end
end
`

// KEYS: fingerprints, subscriptions, version, store counts, indexed marker. ARGV: fingerprint, new id, new record JSON,
// channel, tenant, store (EVERY_STORE without a store filter), most per tenant, most per store, index prefix.
// Answers {'existing', id} when the fingerprint names a stored subscription (never refused: a
// re-subscribe adds nothing), {'quota', name, limit} when a quota is full (nothing written), else
// {'created', id}. Counting and writing are one step, so concurrent creates cannot overshoot.
export const CREATE = `${RECORD_HELPERS}
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing and redis.call('HEXISTS', KEYS[2], existing) == 1 then return {'existing', existing} end
local stored = redis.call('HLEN', KEYS[2])
if stored >= tonumber(ARGV[7]) then return {'quota', 'subscriptions', ARGV[7]} end
-- The first subscription of a tenant: its index is complete from the start (nothing to backfill).
if stored == 0 then redis.call('SET', KEYS[5], '1') end
ensureCounts(KEYS[2], KEYS[4])
if tonumber(redis.call('HGET', KEYS[4], ARGV[6]) or '0') >= tonumber(ARGV[8]) then return {'quota', 'subscriptions-per-store', ARGV[8]} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[4], ARGV[6], 1)
local index, eventType, store = indexOf(ARGV[9], ARGV[3])
if index then redis.call('SADD', index, ARGV[2]) end
redis.call('INCR', KEYS[3])
signal(ARGV[4], ARGV[5], ARGV[2], eventType, store)
return {'created', ARGV[2]}
`

// KEYS: subscriptions, version, then any keys that go with the write (a disable clears the failure
// streak). ARGV: id, expected JSON, new JSON, channel, tenant, index prefix.
// Compare-and-set: 1 when written, 0 when the record changed since it was read, -1 when it is gone.
// A change of event type or store filter moves the id to its new index set.
export const REPLACE = `${RECORD_HELPERS}
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return -1 end
if current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
local before = indexOf(ARGV[6], current)
local index, eventType, store = indexOf(ARGV[6], ARGV[3])
if before ~= index then
  if before then redis.call('SREM', before, ARGV[1]) end
  if index then redis.call('SADD', index, ARGV[1]) end
end
redis.call('INCR', KEYS[2])
signal(ARGV[4], ARGV[5], ARGV[1], eventType, store)
return 1
`

// KEYS: subscriptions, fingerprints, version, attempts, failures, store counts. ARGV: id, channel, tenant,
// index prefix. 1 when removed, 0 when absent. The fingerprint goes only if it still names this id, and a
// record that is not JSON is still removed. Its attempt history and failure streak go with it, and its
// store's count and index entry.
export const REMOVE = `${RECORD_HELPERS}
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
local index, eventType, indexStore = indexOf(ARGV[4], current)
if index then redis.call('SREM', index, ARGV[1]) end
redis.call('INCR', KEYS[3])
signal(ARGV[2], ARGV[3], ARGV[1], eventType, indexStore)
return 1
`

// KEYS: subscriptions, indexed marker. ARGV: index prefix, HSCAN cursor, page size.
// One page of the backfill of a tenant stored before the per-store index: each record of the page is
// added to its index set (a record changed or removed since is in its right set already: the scripts
// above keep the index in the same step). Answers the next cursor; on the last page it marks the tenant
// indexed.
export const INDEX_PAGE = `${RECORD_HELPERS}
local page = redis.call('HSCAN', KEYS[1], ARGV[2], 'COUNT', ARGV[3])
local flat = page[2]
for i = 1, #flat, 2 do
  local index = indexOf(ARGV[1], flat[i + 1])
  if index then redis.call('SADD', index, flat[i]) end
end
if page[1] == '0' then redis.call('SET', KEYS[2], '1') end
return page[1]
`

// KEYS: subscriptions, then one index set per store asked. Answers, per set, its ids followed by their
// records as stored (false where one is missing): an event's candidates in one round trip.
export const CANDIDATES = `
local answer = {}
for i = 2, #KEYS do
  local ids = redis.call('SMEMBERS', KEYS[i])
  local records = {}
  if #ids > 0 then records = redis.call('HMGET', KEYS[1], unpack(ids)) end
  answer[i - 1] = {ids, records}
end
return answer
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
