import type { Redis } from 'ioredis'
import { redisKeys, type AttemptRecord, type DeadLetterRecord } from '@arrivals/contracts'

/**
 * What the dispatcher recorded, read for operators: attempts per subscription (a list, newest first)
 * and the tenant's dead letters (a hash by id plus a sorted set by time).
 */
export interface DeliveryHistory {
  attempts(subscriptionId: string, limit: number): Promise<AttemptRecord[]>
  /** Newest first. */
  deadLetters(tenantId: string, options: { limit: number; offset: number; subscriptionId?: string }): Promise<DeadLetterRecord[]>
  /** Oldest first: every dead letter of the subscription dead-lettered at or after `sinceMs`. */
  deadLettersSince(tenantId: string, subscriptionId: string, sinceMs: number): Promise<DeadLetterRecord[]>
  deadLetter(tenantId: string, id: string): Promise<DeadLetterRecord | undefined>
  /** Removes them from the hash and the time index; answers how many were there. */
  removeDeadLetters(tenantId: string, ids: readonly string[]): Promise<number>
}

/** Dead letters read per round trip while filtering by subscription. */
const PAGE = 500

export function deliveryHistory(redis: Redis, namespace: string): DeliveryHistory {
  const keys = redisKeys(namespace)

  async function load(tenantId: string, ids: string[]): Promise<DeadLetterRecord[]> {
    if (ids.length === 0) return []
    const values = await redis.hmget(keys.deadLetters(tenantId), ...ids)
    return values.filter((json): json is string => json !== null).map((json) => JSON.parse(json) as DeadLetterRecord)
  }

  return {
    async attempts(subscriptionId, limit) {
      const values = await redis.lrange(keys.attempts(subscriptionId), 0, limit - 1)
      return values.map((json) => JSON.parse(json) as AttemptRecord)
    },

    async deadLetters(tenantId, { limit, offset, subscriptionId }) {
      if (!subscriptionId) {
        return load(tenantId, await redis.zrevrange(keys.deadLettersByTime(tenantId), offset, offset + limit - 1))
      }
      // Filtered: walk the index newest first until the page is full (bounded by historyLimits).
      const found: DeadLetterRecord[] = []
      let skipped = 0
      for (let start = 0; found.length < limit; start += PAGE) {
        const ids = await redis.zrevrange(keys.deadLettersByTime(tenantId), start, start + PAGE - 1)
        if (ids.length === 0) break
        for (const record of await load(tenantId, ids)) {
          if (record.subscriptionId !== subscriptionId) continue
          if (skipped < offset) skipped++
          else if (found.length < limit) found.push(record)
        }
      }
      return found
    },

    async deadLettersSince(tenantId, subscriptionId, sinceMs) {
      const ids = await redis.zrangebyscore(keys.deadLettersByTime(tenantId), sinceMs, '+inf')
      const records: DeadLetterRecord[] = []
      for (let start = 0; start < ids.length; start += PAGE) {
        records.push(...(await load(tenantId, ids.slice(start, start + PAGE))).filter((record) => record.subscriptionId === subscriptionId))
      }
      return records
    },

    async deadLetter(tenantId, id) {
      const json = await redis.hget(keys.deadLetters(tenantId), id)
      return json === null ? undefined : JSON.parse(json) as DeadLetterRecord
    },

    async removeDeadLetters(tenantId, ids) {
      if (ids.length === 0) return 0
      const results = await redis.multi().hdel(keys.deadLetters(tenantId), ...ids).zrem(keys.deadLettersByTime(tenantId), ...ids).exec()
      const failed = results?.find(([error]) => error)?.[0]
      if (failed) throw failed
      return Number(results?.[0]?.[1] ?? 0)
    },
  }
}
