import { createSecretBox, GOODS_RECEIVED, goodsReceived, type AttemptRecord, type SubscriptionRecord } from '@arrivals/contracts'
import { createMemoryRegistry } from '@arrivals/subscription-registry/memory'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AttemptLog } from '../../src/adapters/redis/attempt-log.js'
import { SubscriptionCache } from '../../src/adapters/redis/subscription-cache.js'
import { subscriptionChanges } from '../../src/adapters/redis/subscription-changes.js'
import { event, TENANT } from './fakes.js'

// The Redis adapters are thin layers over the registry: these run them on its in-memory twin, whose
// behaviour per operation is held to the Redis one by the registry's contract suite.

const silent = { debug() {}, info() {}, warn() {}, error() {} }

function attempt(n: number, outcome: AttemptRecord['outcome'] = 'retrying'): AttemptRecord {
  return { deliveryId: 'msg_1', eventId: 'evt-1', attempt: n, at: new Date().toISOString(), outcome, status: 500, durationMs: 3 }
}

function stored(id: string, overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  const now = new Date().toISOString()
  return {
    id, tenantId: TENANT, eventType: GOODS_RECEIVED, callbackSealed: 'sealed', callbackRedacted: 'https://flows.example/hook',
    fingerprint: `fp-${id}`, secretSealed: 'sealed', filters: {}, status: 'active', flow: { platform: 'api' }, createdAt: now, updatedAt: now,
    ...overrides,
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('attempt log on the registry', () => {
  it('writes what was buffered as one batch per flush, newest first, and a success ends the streak', async () => {
    const registry = createMemoryRegistry()
    const log = new AttemptLog({ attempts: registry.attempts, log: silent, flushMs: 60_000 })
    await registry.failures.record(TENANT, 'sub_a')
    log.record(TENANT, 'sub_a', attempt(1))
    log.record(TENANT, 'sub_a', attempt(2, 'delivered'))
    log.record('tenant-other', 'sub_b', attempt(1))
    log.succeeded(TENANT, 'sub_a')
    expect(await registry.attempts.list(TENANT, 'sub_a', 10)).toEqual([])
    await log.close()
    expect((await registry.attempts.list(TENANT, 'sub_a', 10)).map((a) => a.attempt)).toEqual([2, 1])
    expect(await registry.attempts.list('tenant-other', 'sub_b', 10)).toHaveLength(1)
    expect(await registry.failures.record(TENANT, 'sub_a')).toMatchObject({ count: 1 })
  })

  it('keeps a batch the registry could not write for the next flush', async () => {
    const registry = createMemoryRegistry()
    let down = true
    const attempts = { write: (batch: Parameters<typeof registry.attempts.write>[0]) => (down ? Promise.reject(new Error('Redis away')) : registry.attempts.write(batch)) }
    const log = new AttemptLog({ attempts, log: silent, flushMs: 60_000 })
    log.record(TENANT, 'sub_a', attempt(1))
    await log.flush()
    log.record(TENANT, 'sub_a', attempt(2))
    down = false
    await log.close()
    expect((await registry.attempts.list(TENANT, 'sub_a', 10)).map((a) => a.attempt)).toEqual([2, 1])
  })
})

describe('subscription changes on the registry', () => {
  it('410 Gone removes the subscription with its attempt history and streak, once', async () => {
    const registry = createMemoryRegistry()
    await registry.subscriptions.create(stored('sub_a'))
    await registry.attempts.write({ records: [{ tenantId: TENANT, subscriptionId: 'sub_a', attempts: [attempt(1)] }], succeeded: [] })
    const changes = subscriptionChanges(registry.subscriptions, registry.failures)
    await changes.recordFailure(TENANT, 'sub_a')
    expect(await changes.remove(TENANT, 'sub_a')).toBe(true)
    expect(await changes.remove(TENANT, 'sub_a')).toBe(false)
    expect(await registry.subscriptions.get(TENANT, 'sub_a')).toBeUndefined()
    expect(await registry.attempts.list(TENANT, 'sub_a', 10)).toEqual([])
    expect((await changes.recordFailure(TENANT, 'sub_a')).count).toBe(1)
  })

  it('a disable after failures ends the streak and signals the change; an already disabled one is left alone', async () => {
    const registry = createMemoryRegistry()
    await registry.subscriptions.create(stored('sub_a'))
    const changes = subscriptionChanges(registry.subscriptions, registry.failures)
    for (let n = 0; n < 3; n++) await changes.recordFailure(TENANT, 'sub_a', 1_000)
    const before = await registry.subscriptions.version(TENANT)
    expect(await changes.disable(TENANT, 'sub_a', 'disabled after 3 consecutive failed attempts')).toBe(true)
    expect(await registry.subscriptions.get(TENANT, 'sub_a')).toMatchObject({ status: 'disabled', disabledReason: 'disabled after 3 consecutive failed attempts' })
    expect(await registry.subscriptions.version(TENANT)).not.toBe(before)
    expect((await changes.recordFailure(TENANT, 'sub_a')).count).toBe(1)
    expect(await changes.disable(TENANT, 'sub_a', 'again')).toBe(false)
  })
})

describe('subscription cache on the registry', () => {
  const box = createSecretBox(randomBytes(32))

  it('drops a tenant on its change signal; unwatched, it reads one record on a miss', async () => {
    const registry = createMemoryRegistry()
    await registry.subscriptions.create(stored('sub_a'))
    const cache = new SubscriptionCache({ subscriptions: registry.subscriptions, box, log: silent, recheckMs: 60_000 })
    const watch = cache.watch(() => {})
    await tick()
    expect((await cache.match(TENANT, event(), goodsReceived)).map((s) => s.record.id)).toEqual(['sub_a'])
    await registry.subscriptions.create(stored('sub_b', { filters: { storeId: 'store-1' } }))
    await tick()
    // Only the signal can tell: the version re-check is a minute away.
    expect((await cache.match(TENANT, event(), goodsReceived)).map((s) => s.record.id).sort()).toEqual(['sub_a', 'sub_b'])
    await watch.close()
    await registry.subscriptions.create(stored('sub_c'))
    await tick()
    // No longer watching: the cached tenant stays, and a task of the new one reads that one record.
    expect(await cache.match(TENANT, event(), goodsReceived)).toHaveLength(2)
    expect((await cache.find(TENANT, 'sub_c'))?.record.id).toBe('sub_c')
    expect(await cache.find(TENANT, 'sub_missing')).toBeUndefined()
  })
})
