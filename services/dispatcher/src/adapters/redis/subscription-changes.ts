import type { RedisKeys, SubscriptionRecord } from '@arrivals/contracts'
import type { Redis } from 'ioredis'
import type { FailureCount, SubscriptionChanger } from '../../ports.js'

/** Consecutive-failure bookkeeping is forgotten after this long without a new failure. */
const FAILURES_TTL_MS = 30 * 86_400_000

// Compare-and-set: the record is replaced only if nobody changed it since we read it (a re-subscribe
// that re-enabled it must win), and the version moves in the same step.
const DISABLE = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('INCR', KEYS[2])
return 1`

const REMOVE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local ok, record = pcall(cjson.decode, current)
if ok and type(record) == 'table' and type(record.fingerprint) == 'string' then
  if redis.call('HGET', KEYS[2], record.fingerprint) == ARGV[1] then redis.call('HDEL', KEYS[2], record.fingerprint) end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[3])
redis.call('DEL', KEYS[4])
return 1`

/**
 * The only changes the dispatcher makes to subscriptions (the subscriptions service owns them):
 * disable one after sustained failure, remove one after 410 Gone. Both follow the pinned rules:
 * the write and `INCR version` atomically, then `PUBLISH subscriptionsChanged <tenantId>`.
 */
export class SubscriptionChanges implements SubscriptionChanger {
  constructor(private readonly redis: Redis, private readonly keys: RedisKeys) {}

  /** Counts one more consecutive failure; returns the count and when the streak started. */
  async recordFailure(subscriptionId: string, now = Date.now()): Promise<FailureCount> {
    const key = this.keys.failures(subscriptionId)
    const results = await this.redis.multi()
      .hincrby(key, 'count', 1)
      .hsetnx(key, 'since', String(now))
      .hget(key, 'since')
      .pexpire(key, FAILURES_TTL_MS)
      .exec()
    const count = Number(results?.[0]?.[1] ?? 1)
    const since = Number(results?.[2]?.[1] ?? now)
    return { count, sinceMs: Number.isFinite(since) ? since : now }
  }

  /** Disables the subscription with a reason; false when it was changed or removed meanwhile. */
  async disable(tenantId: string, subscriptionId: string, reason: string, now = new Date()): Promise<boolean> {
    const current = await this.redis.hget(this.keys.subscriptions(tenantId), subscriptionId)
    if (!current) return false
    const record = JSON.parse(current) as SubscriptionRecord
    if (record.status === 'disabled') return false
    const next: SubscriptionRecord = { ...record, status: 'disabled', disabledReason: reason, disabledAt: now.toISOString(), updatedAt: now.toISOString() }
    const changed = await this.redis.eval(DISABLE, 2, this.keys.subscriptions(tenantId), this.keys.version(tenantId), subscriptionId, current, JSON.stringify(next))
    if (changed !== 1) return false
    await this.redis.del(this.keys.failures(subscriptionId))
    await this.redis.publish(this.keys.subscriptionsChanged, tenantId)
    return true
  }

  /** Removes the subscription and its fingerprint (410 Gone); false when it was already gone. */
  async remove(tenantId: string, subscriptionId: string): Promise<boolean> {
    const removed = await this.redis.eval(REMOVE, 4,
      this.keys.subscriptions(tenantId), this.keys.fingerprints(tenantId), this.keys.version(tenantId), this.keys.failures(subscriptionId),
      subscriptionId)
    if (removed !== 1) return false
    await this.redis.publish(this.keys.subscriptionsChanged, tenantId)
    return true
  }
}
