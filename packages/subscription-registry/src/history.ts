import type { AttemptRecord, DeadLetterRecord } from '@arrivals/contracts'
import { historyLimits, type RegistryKeys } from './layout.js'
import { ARCHIVE } from './scripts.js'
import { execOrThrow, tenantPipelines, type RedisClient } from './subscriptions.js'

/** One subscription in a batch of attempt records. */
export interface SubscriptionRef {
  tenantId: string
  subscriptionId: string
}

export interface AttemptBatch {
  /** Each subscription's new records, oldest first. */
  records: ReadonlyArray<SubscriptionRef & { attempts: readonly AttemptRecord[] }>
  /** Subscriptions that answered: their failure streak ends. */
  succeeded: readonly SubscriptionRef[]
}

export interface Attempts {
  /**
   * Writes a batch in one pipelined round trip: each list gets the records newest first, is capped at
   * `historyLimits.attemptsPerSubscription` and expires `historyTtlMs` after its last record (so a late
   * record for a removed subscription does not stay forever); the streaks of `succeeded` are cleared.
   */
  write(batch: AttemptBatch): Promise<void>
  /** Newest first. */
  list(tenantId: string, subscriptionId: string, limit: number): Promise<AttemptRecord[]>
}

export interface FailureStreak {
  count: number
  /** When the first failure of the streak was counted. */
  sinceMs: number
}

export interface Failures {
  /** Counts one more consecutive failure; answers the streak. */
  record(tenantId: string, subscriptionId: string, nowMs?: number): Promise<FailureStreak>
  clear(tenantId: string, subscriptionId: string): Promise<void>
}

export interface DeadLetters {
  /**
   * Archives a record: a tenant's goes to its hash and time index, trimmed by age and count in the
   * same script; one without a tenant goes to the deployment's capped list. The record id is the
   * message id, so archiving one twice (a crash between the write and the ack) writes one record.
   */
  archive(record: DeadLetterRecord, now?: Date): Promise<void>
  /**
   * Keeps a record in the deployment's capped list of dead letters without a tenant, whatever its
   * tenant: where the archive stage parks a dead letter that `archive` could not store as it was (its
   * tenant's keys refuse it, it cannot be serialized), so it is neither lost nor returned forever.
   */
  park(record: DeadLetterRecord): Promise<void>
  /** Newest first, optionally of one subscription. */
  list(tenantId: string, options: { limit: number; offset: number; subscriptionId?: string }): Promise<DeadLetterRecord[]>
  /** Oldest first: every dead letter of the subscription dead-lettered at or after `sinceMs`. */
  since(tenantId: string, subscriptionId: string, sinceMs: number): Promise<DeadLetterRecord[]>
  /**
   * Bounded `since`: walks at most about `examine` entries of the tenant's time index from `sinceMs`
   * (every entry of the last millisecond it reaches, so none is skipped) and answers the
   * subscription's among them, oldest first. `nextSinceMs` is where to go on, absent when it reached
   * the end: the work of one call is bounded however many dead letters the tenant has.
   */
  scanSince(tenantId: string, subscriptionId: string, sinceMs: number, examine: number): Promise<DeadLettersSince>
  get(tenantId: string, id: string): Promise<DeadLetterRecord | undefined>
  /** Removes them from the hash and the time index; answers how many were there. */
  remove(tenantId: string, ids: readonly string[]): Promise<number>
  /** The newest dead letters that name no tenant. */
  listWithoutTenant(limit: number): Promise<DeadLetterRecord[]>
}

export interface DeadLettersSince {
  records: DeadLetterRecord[]
  /** Call again from here (exclusive of everything examined); absent when nothing is left. */
  nextSinceMs?: number
}

/** Dead letters read per round trip while filtering by subscription. */
const PAGE = 500

export function attempts(redis: RedisClient, keys: RegistryKeys): Attempts {
  return {
    async write({ records, succeeded }) {
      if (records.length === 0 && succeeded.length === 0) return
      const pipelines = tenantPipelines(redis)
      for (const { tenantId, subscriptionId, attempts: list } of records) {
        if (list.length === 0) continue
        const key = keys.attempts(tenantId, subscriptionId)
        const pipeline = pipelines.of(tenantId)
        // LPUSH puts its last argument first: oldest first in, newest at the head.
        pipeline.lpush(key, ...list.map((record) => JSON.stringify(record)))
        pipeline.ltrim(key, 0, historyLimits.attemptsPerSubscription - 1)
        pipeline.pexpire(key, historyLimits.historyTtlMs)
      }
      for (const { tenantId, subscriptionId } of succeeded) pipelines.of(tenantId).del(keys.failures(tenantId, subscriptionId))
      await pipelines.exec()
    },

    async list(tenantId, subscriptionId, limit) {
      const values = await redis.lrange(keys.attempts(tenantId, subscriptionId), 0, limit - 1)
      return values.map((json) => JSON.parse(json) as AttemptRecord)
    },
  }
}

export function failures(redis: RedisClient, keys: RegistryKeys): Failures {
  return {
    async record(tenantId, subscriptionId, nowMs = Date.now()) {
      const key = keys.failures(tenantId, subscriptionId)
      const results = await execOrThrow(redis.multi()
        .hincrby(key, 'count', 1)
        .hsetnx(key, 'since', String(nowMs))
        .hget(key, 'since')
        .pexpire(key, historyLimits.historyTtlMs))
      const since = Number(results[2]?.[1] ?? nowMs)
      return { count: Number(results[0]?.[1] ?? 1), sinceMs: Number.isFinite(since) ? since : nowMs }
    },

    async clear(tenantId, subscriptionId) {
      await redis.del(keys.failures(tenantId, subscriptionId))
    },
  }
}

export function deadLetters(redis: RedisClient, keys: RegistryKeys): DeadLetters {
  const parse = (json: string) => JSON.parse(json) as DeadLetterRecord

  async function load(tenantId: string, ids: string[]): Promise<DeadLetterRecord[]> {
    if (ids.length === 0) return []
    const values = await redis.hmget(keys.deadLetters(tenantId), ...ids)
    return values.filter((json): json is string => json !== null).map(parse)
  }

  async function park(record: DeadLetterRecord): Promise<void> {
    await execOrThrow(redis.multi()
      .lpush(keys.pipelineDeadLetters, JSON.stringify(record))
      .ltrim(keys.pipelineDeadLetters, 0, historyLimits.pipelineDeadLetters - 1)
      .pexpire(keys.pipelineDeadLetters, historyLimits.deadLetterMaxAgeMs))
  }

  return {
    async archive(record, now = new Date()) {
      const { tenantId } = record
      if (tenantId) {
        await redis.eval(ARCHIVE, 2, keys.deadLetters(tenantId), keys.deadLettersByTime(tenantId), record.id, JSON.stringify(record),
          now.getTime(), now.getTime() - historyLimits.deadLetterMaxAgeMs, historyLimits.deadLettersPerTenant, historyLimits.deadLetterMaxAgeMs)
        return
      }
      await park(record)
    },

    park,

    async list(tenantId, { limit, offset, subscriptionId }) {
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

    async since(tenantId, subscriptionId, sinceMs) {
      const ids = await redis.zrangebyscore(keys.deadLettersByTime(tenantId), sinceMs, '+inf')
      const records: DeadLetterRecord[] = []
      for (let start = 0; start < ids.length; start += PAGE) {
        records.push(...(await load(tenantId, ids.slice(start, start + PAGE))).filter((record) => record.subscriptionId === subscriptionId))
      }
      return records
    },

    async scanSince(tenantId, subscriptionId, sinceMs, examine) {
      const key = keys.deadLettersByTime(tenantId)
      const flat = await redis.zrangebyscore(key, sinceMs, '+inf', 'WITHSCORES', 'LIMIT', 0, examine + 1)
      const ids: string[] = []
      for (let index = 0; index + 1 < flat.length && ids.length < examine; index += 2) ids.push(flat[index]!)
      let nextSinceMs: number | undefined
      if (flat.length > examine * 2) {
        // Cut after a whole millisecond: the rest of the last one is read too, and the next call starts after it.
        const lastMs = Number(flat[examine * 2 - 1])
        const seen = new Set(ids)
        for (const id of await redis.zrangebyscore(key, lastMs, lastMs)) if (!seen.has(id)) ids.push(id)
        nextSinceMs = lastMs + 1
      }
      const records: DeadLetterRecord[] = []
      for (let start = 0; start < ids.length; start += PAGE) {
        records.push(...(await load(tenantId, ids.slice(start, start + PAGE))).filter((record) => record.subscriptionId === subscriptionId))
      }
      return nextSinceMs === undefined ? { records } : { records, nextSinceMs }
    },

    async get(tenantId, id) {
      const json = await redis.hget(keys.deadLetters(tenantId), id)
      return json === null ? undefined : parse(json)
    },

    async remove(tenantId, ids) {
      if (ids.length === 0) return 0
      const results = await execOrThrow(redis.multi().hdel(keys.deadLetters(tenantId), ...ids).zrem(keys.deadLettersByTime(tenantId), ...ids))
      return Number(results[0]?.[1] ?? 0)
    },

    async listWithoutTenant(limit) {
      return (await redis.lrange(keys.pipelineDeadLetters, 0, limit - 1)).map(parse)
    },
  }
}
