import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace } from '@arrivals/test-kit'
import { createSubscriptionRegistry, type SubscriptionRegistry } from '../src/index.js'
import { historyLimits, registryKeys } from '../src/layout.js'
import { attemptRecord, deadLetterRecord, tenantId } from './support.js'

const ns = createNamespace('registry-history')
const keys = registryKeys(ns.namespace)
let redis: Redis
let registry: SubscriptionRegistry

beforeAll(() => {
  redis = new Redis(ns.redisUrl)
  registry = createSubscriptionRegistry({ redis, namespace: ns.namespace })
})
afterAll(async () => {
  redis?.disconnect()
  await ns.cleanup()
})

describe('attempts', () => {
  it('writes a batch in one round trip: newest first, capped, expiring; a success ends the failure streak', async () => {
    const tenant = tenantId('contoso')
    await registry.failures.record(tenant, 'sub_b')
    const many = Array.from({ length: historyLimits.attemptsPerSubscription + 5 }, (_, index) => attemptRecord(index + 1))
    await registry.attempts.write({
      records: [
        { tenantId: tenant, subscriptionId: 'sub_a', attempts: many },
        { tenantId: tenant, subscriptionId: 'sub_b', attempts: [attemptRecord(1, 'delivered')] },
      ],
      succeeded: [{ tenantId: tenant, subscriptionId: 'sub_b' }],
    })
    const listed = await registry.attempts.list(tenant, 'sub_a', 1_000)
    expect(listed).toHaveLength(historyLimits.attemptsPerSubscription)
    expect(listed[0]!.attempt).toBe(many.length)
    expect(await registry.attempts.list(tenant, 'sub_a', 2)).toEqual([many.at(-1), many.at(-2)])
    const ttl = await redis.pttl(keys.attempts(tenant, 'sub_a'))
    expect(ttl).toBeGreaterThan(historyLimits.historyTtlMs - 60_000)
    expect(await registry.attempts.list(tenant, 'sub_b', 10)).toMatchObject([{ outcome: 'delivered' }])
    expect(await redis.exists(keys.failures(tenant, 'sub_b'))).toBe(0)
  })

  it('writes nothing for an empty batch and answers an empty history', async () => {
    await registry.attempts.write({ records: [], succeeded: [] })
    expect(await registry.attempts.list(tenantId('none'), 'sub_none', 10)).toEqual([])
  })
})

describe('failures', () => {
  it('counts a streak from its first failure, expires it, and clears it', async () => {
    const tenant = tenantId('contoso')
    expect(await registry.failures.record(tenant, 'sub_a', 1_000)).toEqual({ count: 1, sinceMs: 1_000 })
    expect(await registry.failures.record(tenant, 'sub_a', 5_000)).toEqual({ count: 2, sinceMs: 1_000 })
    expect(await redis.pttl(keys.failures(tenant, 'sub_a'))).toBeGreaterThan(historyLimits.historyTtlMs - 60_000)
    await registry.failures.clear(tenant, 'sub_a')
    expect(await registry.failures.record(tenant, 'sub_a', 9_000)).toEqual({ count: 1, sinceMs: 9_000 })
  })
})

describe('dead letters', () => {
  it('archives a tenant\'s, lists them newest first, by subscription, since T, and removes them', async () => {
    const tenant = tenantId('contoso')
    const base = Date.now() - 60_000
    const records = [
      deadLetterRecord(tenant, { subscriptionId: 'sub_a' }),
      deadLetterRecord(tenant, { subscriptionId: 'sub_b' }),
      deadLetterRecord(tenant, { subscriptionId: 'sub_a' }),
    ]
    for (const [index, record] of records.entries()) await registry.deadLetters.archive(record, new Date(base + index * 1_000))
    // Archiving one twice (a crash before the ack) keeps one record.
    await registry.deadLetters.archive(records[2]!, new Date(base + 2_000))

    expect((await registry.deadLetters.list(tenant, { limit: 10, offset: 0 })).map((r) => r.id)).toEqual([records[2]!.id, records[1]!.id, records[0]!.id])
    expect((await registry.deadLetters.list(tenant, { limit: 1, offset: 1, subscriptionId: 'sub_a' })).map((r) => r.id)).toEqual([records[0]!.id])
    expect((await registry.deadLetters.since(tenant, 'sub_a', base + 500)).map((r) => r.id)).toEqual([records[2]!.id])
    expect(await registry.deadLetters.get(tenant, records[1]!.id)).toEqual(records[1])
    expect(await registry.deadLetters.remove(tenant, [records[1]!.id, 'dl_none'])).toBe(1)
    expect(await registry.deadLetters.get(tenant, records[1]!.id)).toBeUndefined()
    expect(await redis.zscore(keys.deadLettersByTime(tenant), records[1]!.id)).toBeNull()
    expect(await registry.deadLetters.remove(tenant, [])).toBe(0)
  })

  it('trims by age and by count on every write, and both keys expire one maximum age after it', async () => {
    const tenant = tenantId('contoso')
    const now = Date.now()
    const old = deadLetterRecord(tenant)
    await registry.deadLetters.archive(old, new Date(now - historyLimits.deadLetterMaxAgeMs - 1_000))
    // A full archive, seeded directly (10,000 scripts would be slow): its oldest entry makes room.
    const members: Array<string | number> = []
    for (let index = 0; index < historyLimits.deadLettersPerTenant; index++) members.push(now - 50_000 + index, `dl_seed${index}`)
    await redis.zadd(keys.deadLettersByTime(tenant), ...members)
    await redis.hset(keys.deadLetters(tenant), 'dl_seed0', '{}')
    const fresh = deadLetterRecord(tenant)
    await registry.deadLetters.archive(fresh, new Date(now))

    expect(await registry.deadLetters.get(tenant, old.id)).toBeUndefined()
    expect(await redis.zcard(keys.deadLettersByTime(tenant))).toBe(historyLimits.deadLettersPerTenant)
    expect(await redis.zscore(keys.deadLettersByTime(tenant), 'dl_seed0')).toBeNull()
    expect(await redis.hexists(keys.deadLetters(tenant), 'dl_seed0')).toBe(0)
    expect(await registry.deadLetters.get(tenant, fresh.id)).toEqual(fresh)
    for (const key of [keys.deadLetters(tenant), keys.deadLettersByTime(tenant)]) {
      const ttl = await redis.pttl(key)
      expect(ttl, key).toBeGreaterThan(historyLimits.deadLetterMaxAgeMs - 60_000)
      expect(ttl, key).toBeLessThanOrEqual(historyLimits.deadLetterMaxAgeMs)
    }
  })

  it('keeps dead letters without a tenant in one capped, expiring list for the deployment', async () => {
    const records = Array.from({ length: 3 }, () => deadLetterRecord(null, { class: 'pipeline', subscriptionId: null, body: 'not json' }))
    for (const record of records) await registry.deadLetters.archive(record)
    expect((await registry.deadLetters.listWithoutTenant(2)).map((r) => r.id)).toEqual([records[2]!.id, records[1]!.id])
    expect(await redis.pttl(keys.pipelineDeadLetters)).toBeGreaterThan(historyLimits.deadLetterMaxAgeMs - 60_000)
    await redis.rpush(keys.pipelineDeadLetters, ...Array.from({ length: historyLimits.pipelineDeadLetters }, () => '{}'))
    await registry.deadLetters.archive(deadLetterRecord(null))
    expect(await redis.llen(keys.pipelineDeadLetters)).toBe(historyLimits.pipelineDeadLetters)
  })
})
