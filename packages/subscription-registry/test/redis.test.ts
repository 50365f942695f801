import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, waitFor } from '@arrivals/test-kit'
import { createSubscriptionRegistry, type SubscriptionRegistry, type SubscriptionsChanged } from '../src/index.js'
import { historyLimits, registryKeys } from '../src/layout.js'
import { registryContract } from './contract.js'
import { attemptRecord, deadLetterRecord, subscriptionId, subscriptionRecord, tenantId } from './support.js'

const ns = createNamespace('registry')
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

describe('the registry on Redis', () => {
  registryContract(() => registry)
})

/** A client that lets another writer in just before each script runs. */
function racing(write: () => Promise<unknown>): Redis {
  return new Proxy(redis, {
    get(target, property, receiver) {
      if (property !== 'eval') return Reflect.get(target, property, receiver) as unknown
      return async (...args: Parameters<Redis['eval']>) => {
        await write()
        return target.eval(...args)
      }
    },
  })
}

describe('races (compare-and-set)', () => {
  it('an update never overwrites a change made between its read and its write: it re-reads and applies to the new record', async () => {
    const tenant = tenantId('contoso')
    const record = subscriptionRecord(tenant)
    await registry.subscriptions.create(record)
    let raced = false
    const disabledMeanwhile = { ...record, status: 'disabled' as const, disabledReason: 'failing' }
    const client = racing(async () => {
      if (raced) return
      raced = true
      await redis.hset(keys.subscriptions(tenant), record.id, JSON.stringify(disabledMeanwhile))
    })
    const updated = await createSubscriptionRegistry({ redis: client, namespace: ns.namespace }).subscriptions
      .update(tenant, record.id, (current) => ({ ...current, secretSealed: 'rotated' }))
    expect(updated).toEqual({ ...disabledMeanwhile, secretSealed: 'rotated' })
    expect(await registry.subscriptions.get(tenant, record.id)).toEqual(updated)
  })

  it('a disable after failures loses to a re-subscribe that lands between its read and its write', async () => {
    const tenant = tenantId('contoso')
    const record = subscriptionRecord(tenant)
    await registry.subscriptions.create(record)
    const client = racing(() => redis.hset(keys.subscriptions(tenant), record.id, JSON.stringify({ ...record, updatedAt: 'just re-subscribed' })))
    expect(await createSubscriptionRegistry({ redis: client, namespace: ns.namespace }).subscriptions.disableAfterFailures(tenant, record.id, 'failing')).toBe(false)
    expect(await registry.subscriptions.get(tenant, record.id)).toMatchObject({ status: 'active', updatedAt: 'just re-subscribed' })
  })
})

describe('stored state the API cannot make', () => {
  it('backfills the per-store index of a tenant stored before it, once, in pages', async () => {
    const tenant = tenantId('contoso')
    const legacy = Array.from({ length: 2_500 }, (_, n) => subscriptionRecord(tenant, { filters: n % 2 ? { storeId: `store-${n % 7}` } : {} }))
    const pipeline = redis.pipeline()
    for (const record of legacy) pipeline.hset(keys.subscriptions(tenant), record.id, JSON.stringify(record))
    pipeline.hset(keys.subscriptions(tenant), 'sub_broken', 'not json')
    await pipeline.exec()
    expect((await registry.subscriptions.candidates(tenant, 'inventory.goods-received.v1', ['store-3']))[0]!.ids).toEqual([])
    // A change made before the backfill is kept in step by its script all the same.
    const added = subscriptionRecord(tenant, { filters: { storeId: 'store-3' } })
    await registry.subscriptions.create(added, { subscriptions: 10_000, subscriptionsPerStore: 10_000 })
    expect(await registry.subscriptions.ensureIndexed(tenant)).toBe(true)
    expect(await registry.subscriptions.ensureIndexed(tenant)).toBe(false)
    const [store3, everywhere] = await registry.subscriptions.candidates(tenant, 'inventory.goods-received.v1', ['store-3', undefined])
    const expected = (storeId: string | undefined) => legacy.filter((record) => record.filters.storeId === storeId).map((record) => record.id)
    expect(new Set(store3!.ids)).toEqual(new Set([...expected('store-3'), added.id]))
    expect(new Set(everywhere!.ids)).toEqual(new Set(expected(undefined)))
    expect(everywhere!.records.every((json) => json !== undefined)).toBe(true)
  })

  it('creates afresh when the fingerprint names a subscription that no longer exists', async () => {
    const tenant = tenantId('contoso')
    await redis.hset(keys.fingerprints(tenant), 'fp-stale', 'sub_gone')
    const record = subscriptionRecord(tenant, { fingerprint: 'fp-stale' })
    expect(await registry.subscriptions.create(record)).toEqual({ created: true })
    expect(await registry.subscriptions.get(tenant, record.id)).toEqual(record)
    expect(await registry.subscriptions.idByFingerprint(tenant, 'fp-stale')).toBe(record.id)
  })

  it('removes keeping a fingerprint that names another subscription, and removes a record that is not JSON', async () => {
    const tenant = tenantId('contoso')
    const record = subscriptionRecord(tenant, { fingerprint: 'fp-shared' })
    await redis.hset(keys.subscriptions(tenant), record.id, JSON.stringify(record))
    await redis.hset(keys.fingerprints(tenant), 'fp-shared', 'sub_newer')
    expect(await registry.subscriptions.remove(tenant, record.id)).toBe(true)
    expect(await registry.subscriptions.idByFingerprint(tenant, 'fp-shared')).toBe('sub_newer')
    await redis.hset(keys.subscriptions(tenant), 'sub_broken', 'not json')
    expect(await registry.subscriptions.remove(tenant, 'sub_broken')).toBe(true)
    expect(await redis.hexists(keys.subscriptions(tenant), 'sub_broken')).toBe(0)
  })

  it('trims a full dead-letter archive by count, oldest first', async () => {
    const tenant = tenantId('contoso')
    const now = Date.now()
    // A full archive, seeded directly (10,000 scripts would be slow): its oldest entry makes room.
    const members: Array<string | number> = []
    for (let index = 0; index < historyLimits.deadLettersPerTenant; index++) members.push(now - 50_000 + index, `dl_seed${index}`)
    await redis.zadd(keys.deadLettersByTime(tenant), ...members)
    await redis.hset(keys.deadLetters(tenant), 'dl_seed0', '{}')
    const fresh = deadLetterRecord(tenant)
    await registry.deadLetters.archive(fresh, new Date(now))
    expect(await redis.zcard(keys.deadLettersByTime(tenant))).toBe(historyLimits.deadLettersPerTenant)
    expect(await redis.zscore(keys.deadLettersByTime(tenant), 'dl_seed0')).toBeNull()
    expect(await redis.hexists(keys.deadLetters(tenant), 'dl_seed0')).toBe(0)
    expect(await registry.deadLetters.get(tenant, fresh.id)).toEqual(fresh)
  })

  it('caps the list of dead letters without a tenant', async () => {
    await redis.rpush(keys.pipelineDeadLetters, ...Array.from({ length: historyLimits.pipelineDeadLetters }, () => '{}'))
    await registry.deadLetters.archive(deadLetterRecord(null))
    expect(await redis.llen(keys.pipelineDeadLetters)).toBe(historyLimits.pipelineDeadLetters)
  })
})

describe('expiry', () => {
  it('expires an attempt history and a failure streak 30 days after their last write', async () => {
    const tenant = tenantId('contoso')
    const id = subscriptionId()
    await registry.attempts.write({ records: [{ tenantId: tenant, subscriptionId: id, attempts: [attemptRecord(1)] }], succeeded: [] })
    await registry.failures.record(tenant, id)
    for (const key of [keys.attempts(tenant, id), keys.failures(tenant, id)]) {
      expect(await redis.pttl(key), key).toBeGreaterThan(historyLimits.historyTtlMs - 60_000)
    }
  })

  it('expires a tenant\'s dead letters, and the list without a tenant, one maximum age after the latest write', async () => {
    const tenant = tenantId('contoso')
    await registry.deadLetters.archive(deadLetterRecord(tenant))
    await registry.deadLetters.archive(deadLetterRecord(null))
    for (const key of [keys.deadLetters(tenant), keys.deadLettersByTime(tenant), keys.pipelineDeadLetters]) {
      const ttl = await redis.pttl(key)
      expect(ttl, key).toBeGreaterThan(historyLimits.deadLetterMaxAgeMs - 60_000)
      expect(ttl, key).toBeLessThanOrEqual(historyLimits.deadLetterMaxAgeMs)
    }
  })
})

describe('watch', () => {
  it('subscribes again after a lost connection, says it was lost and "start afresh" again, and keeps signalling', async () => {
    const name = `registry-watch-${randomBytes(4).toString('hex')}`
    const named = new Redis(ns.redisUrl, { connectionName: name })
    const seen: SubscriptionsChanged[] = []
    let lost = 0
    const watch = createSubscriptionRegistry({ redis: named, namespace: ns.namespace }).subscriptions.watch((change) => seen.push(change), { onLost: () => (lost += 1) })
    try {
      await waitFor(() => seen.length === 1)
      expect(lost).toBe(0)
      // Only this watch's own connection is cut: the Redis is shared with other test runs.
      const line = (await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub') as string).split('\n').find((entry) => entry.includes(`name=${name} `))
      const id = /\bid=(\d+)/.exec(line ?? '')?.[1]
      expect(id).toBeDefined()
      await redis.call('CLIENT', 'KILL', 'ID', id!)
      await waitFor(() => seen.filter((change) => change.tenantId === undefined).length === 2, { what: 'the second "start afresh"' })
      expect(lost).toBe(1)
      const tenant = tenantId('contoso')
      await registry.subscriptions.create(subscriptionRecord(tenant))
      await waitFor(() => seen.some((change) => change.tenantId === tenant), { what: 'a change after the reconnect' })
    } finally {
      await watch.close()
      named.disconnect()
    }
  })
})

describe('quotas on Redis', () => {
  it('lets no concurrent creates overshoot a quota: counting and writing are one step', async () => {
    const tenant = tenantId('contoso')
    const quotas = { subscriptions: 5, subscriptionsPerStore: 100 }
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => registry.subscriptions.create(subscriptionRecord(tenant), quotas)))
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(5)
    expect(await redis.hlen(keys.subscriptions(tenant))).toBe(5)
  })

  it('rebuilds the per-store counts from the records when they are missing (before quotas, a bulk import, a 410 removal)', async () => {
    const tenant = tenantId('contoso')
    const quotas = { subscriptions: 100, subscriptionsPerStore: 3 }
    await registry.subscriptions.importAll(Array.from({ length: 3 }, () => subscriptionRecord(tenant, { filters: { storeId: 'store-1' } })))
    expect(await redis.exists(keys.storeCounts(tenant))).toBe(0)
    await expect(registry.subscriptions.create(subscriptionRecord(tenant, { filters: { storeId: 'store-1' } }), quotas)).rejects.toMatchObject({ quota: 'subscriptions-per-store' })
    expect(await registry.subscriptions.create(subscriptionRecord(tenant, { filters: { storeId: 'store-2' } }), quotas)).toEqual({ created: true })
    expect(await redis.hgetall(keys.storeCounts(tenant))).toEqual({ 'store-1': '3', 'store-2': '1' })
  })
})
