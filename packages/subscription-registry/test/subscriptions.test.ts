import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { historyLimits as legacyHistoryLimits, redisKeys } from '@arrivals/contracts'
import { createNamespace, waitFor } from '@arrivals/test-kit'
import { createSubscriptionRegistry, type SubscriptionRegistry, type SubscriptionsChanged } from '../src/index.js'
import { historyLimits, registryKeys } from '../src/layout.js'
import { subscriptionRecord, tenantId } from './support.js'

const ns = createNamespace('registry-subs')
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

/** Collects change signals of the namespace, from the moment the watch is subscribed. */
async function signals(): Promise<{ seen: SubscriptionsChanged[]; stop(): Promise<void> }> {
  const seen: SubscriptionsChanged[] = []
  const watch = registry.subscriptions.watch((change) => seen.push(change))
  await waitFor(() => seen.some((change) => change.tenantId === undefined), { what: 'the watch subscribed' })
  return { seen, stop: () => watch.close() }
}

describe('create', () => {
  it('makes one subscription of eight concurrent creates of one flow, bumping the version once', async () => {
    const tenant = tenantId('contoso')
    const records = Array.from({ length: 8 }, () => subscriptionRecord(tenant, { fingerprint: 'fp-same-flow' }))
    const results = await Promise.all(records.map((record) => registry.subscriptions.create(record)))
    const created = results.filter((result) => result.created)
    expect(created).toHaveLength(1)
    const winner = records[results.findIndex((result) => result.created)]!
    for (const result of results) if (!result.created) expect(result.id).toBe(winner.id)
    expect(await redis.hlen(keys.subscriptions(tenant))).toBe(1)
    expect(await registry.subscriptions.idByFingerprint(tenant, 'fp-same-flow')).toBe(winner.id)
    expect(await registry.subscriptions.version(tenant)).toBe('1')
  })

  it('creates afresh when the fingerprint names a subscription that no longer exists', async () => {
    const tenant = tenantId('contoso')
    await redis.hset(keys.fingerprints(tenant), 'fp-stale', 'sub_gone')
    const record = subscriptionRecord(tenant, { fingerprint: 'fp-stale' })
    expect(await registry.subscriptions.create(record)).toEqual({ created: true })
    expect(await registry.subscriptions.get(tenant, record.id)).toEqual(record)
    expect(await registry.subscriptions.idByFingerprint(tenant, 'fp-stale')).toBe(record.id)
  })
})

describe('change signal', () => {
  it('bumps the version and publishes the tenant on every change, and says "any" on (re)connect', async () => {
    const tenant = tenantId('contoso')
    const watch = await signals()
    const record = subscriptionRecord(tenant)
    await registry.subscriptions.create(record)
    await registry.subscriptions.disable(tenant, record.id, 'paused by an operator')
    await registry.subscriptions.enable(tenant, record.id)
    await registry.subscriptions.remove(tenant, record.id)
    await waitFor(() => watch.seen.filter((change) => change.tenantId === tenant).length === 4)
    expect(await registry.subscriptions.version(tenant)).toBe('4')
    await watch.stop()
  })
})

describe('watch', () => {
  it('subscribes again after a lost connection, says "start afresh" again, and keeps signalling', async () => {
    const name = `registry-watch-${randomBytes(4).toString('hex')}`
    const named = new Redis(ns.redisUrl, { connectionName: name })
    const seen: SubscriptionsChanged[] = []
    const watch = createSubscriptionRegistry({ redis: named, namespace: ns.namespace }).subscriptions.watch((change) => seen.push(change))
    try {
      await waitFor(() => seen.length === 1)
      // Only this watch's own connection is cut: the Redis is shared with other test runs.
      const line = (await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub') as string).split('\n').find((entry) => entry.includes(`name=${name} `))
      const id = /\bid=(\d+)/.exec(line ?? '')?.[1]
      expect(id).toBeDefined()
      await redis.call('CLIENT', 'KILL', 'ID', id!)
      await waitFor(() => seen.filter((change) => change.tenantId === undefined).length === 2, { what: 'the second "start afresh"' })
      const tenant = tenantId('contoso')
      await registry.subscriptions.create(subscriptionRecord(tenant))
      await waitFor(() => seen.some((change) => change.tenantId === tenant), { what: 'a change after the reconnect' })
    } finally {
      await watch.close()
      named.disconnect()
    }
  })
})

describe('update (compare-and-set)', () => {
  it('never overwrites a change made between its read and its write: it re-reads and applies to the new record', async () => {
    const tenant = tenantId('contoso')
    const record = subscriptionRecord(tenant)
    await registry.subscriptions.create(record)
    let calls = 0
    const updated = await registry.subscriptions.update(tenant, record.id, (current) => {
      calls += 1
      // The first time, the dispatcher disables it while this change is being prepared.
      if (calls === 1) void redis.hset(keys.subscriptions(tenant), record.id, JSON.stringify({ ...current, status: 'disabled', disabledReason: 'failing' }))
      return { ...current, secretSealed: 'rotated' }
    })
    expect(calls).toBe(2)
    expect(updated).toMatchObject({ status: 'disabled', disabledReason: 'failing', secretSealed: 'rotated' })
    expect(await registry.subscriptions.get(tenant, record.id)).toEqual(updated)
  })

  it('answers undefined for a subscription that does not exist, and writes nothing when the change is none', async () => {
    const tenant = tenantId('contoso')
    expect(await registry.subscriptions.update(tenant, 'sub_none', (current) => current)).toBeUndefined()
    const record = subscriptionRecord(tenant)
    await registry.subscriptions.create(record)
    expect(await registry.subscriptions.update(tenant, record.id, () => undefined)).toEqual(record)
    expect(await registry.subscriptions.version(tenant)).toBe('1')
  })

  it('enables and disables for an operator (mirror images), keeping the rest of the record', async () => {
    const tenant = tenantId('contoso')
    const record = subscriptionRecord(tenant)
    await registry.subscriptions.create(record)
    const at = new Date('2026-11-29T10:00:00.000Z')
    const disabled = await registry.subscriptions.disable(tenant, record.id, 'paused by an operator', at)
    expect(disabled).toEqual({ ...record, status: 'disabled', disabledReason: 'paused by an operator', disabledAt: at.toISOString(), updatedAt: at.toISOString() })
    const enabled = await registry.subscriptions.enable(tenant, record.id, at)
    expect(enabled).toEqual({ ...record, updatedAt: at.toISOString() })
    expect(await registry.subscriptions.enable(tenant, 'sub_none')).toBeUndefined()
    expect(await registry.subscriptions.disable(tenant, 'sub_none', 'x')).toBeUndefined()
  })
})

describe('disableAfterFailures', () => {
  it('disables with the reason, clears the failure streak and signals', async () => {
    const tenant = tenantId('contoso')
    const record = subscriptionRecord(tenant)
    await registry.subscriptions.create(record)
    await registry.failures.record(tenant, record.id)
    expect(await registry.subscriptions.disableAfterFailures(tenant, record.id, 'failed for 24 h')).toBe(true)
    expect(await registry.subscriptions.get(tenant, record.id)).toMatchObject({ status: 'disabled', disabledReason: 'failed for 24 h' })
    expect(await redis.exists(keys.failures(tenant, record.id))).toBe(0)
    expect(await registry.subscriptions.version(tenant)).toBe('2')
    // Already disabled, or gone: nothing to do.
    expect(await registry.subscriptions.disableAfterFailures(tenant, record.id, 'again')).toBe(false)
    expect(await registry.subscriptions.disableAfterFailures(tenant, 'sub_none', 'x')).toBe(false)
  })

  it('loses to a re-enable (or any change) that lands between its read and its write', async () => {
    const tenant = tenantId('contoso')
    const record = subscriptionRecord(tenant)
    await registry.subscriptions.create(record)
    // A client that lets a re-subscribe write just before the disable's compare-and-set runs.
    const racing = new Proxy(redis, {
      get(target, property, receiver) {
        if (property !== 'eval') return Reflect.get(target, property, receiver) as unknown
        return async (...args: Parameters<Redis['eval']>) => {
          await target.hset(keys.subscriptions(tenant), record.id, JSON.stringify({ ...record, updatedAt: 'just re-subscribed' }))
          return target.eval(...args)
        }
      },
    })
    const raced = createSubscriptionRegistry({ redis: racing, namespace: ns.namespace })
    expect(await raced.subscriptions.disableAfterFailures(tenant, record.id, 'failing')).toBe(false)
    expect(await registry.subscriptions.get(tenant, record.id)).toMatchObject({ status: 'active', updatedAt: 'just re-subscribed' })
  })
})

describe('remove (DELETE, unsubscribe, 410 Gone)', () => {
  it('takes the record, its fingerprint, attempt history and failure streak; signals; false the second time', async () => {
    const tenant = tenantId('contoso')
    const record = subscriptionRecord(tenant)
    await registry.subscriptions.create(record)
    await registry.attempts.write({ records: [{ tenantId: tenant, subscriptionId: record.id, attempts: [{ deliveryId: 'msg_1', eventId: 'e', attempt: 1, at: new Date().toISOString(), outcome: 'gone', status: 410, durationMs: 3 }] }], succeeded: [] })
    await registry.failures.record(tenant, record.id)
    expect(await registry.subscriptions.remove(tenant, record.id)).toBe(true)
    expect(await registry.subscriptions.get(tenant, record.id)).toBeUndefined()
    expect(await registry.subscriptions.idByFingerprint(tenant, record.fingerprint)).toBeUndefined()
    expect(await redis.exists(keys.attempts(tenant, record.id), keys.failures(tenant, record.id))).toBe(0)
    expect(await registry.subscriptions.version(tenant)).toBe('2')
    expect(await registry.subscriptions.remove(tenant, record.id)).toBe(false)
    expect(await registry.subscriptions.version(tenant)).toBe('2')
  })

  it('keeps a fingerprint that names another subscription, and removes a record that is not JSON', async () => {
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
})

describe('reading a tenant', () => {
  it('lists in cursor pages and scans every record in pages, as stored', async () => {
    const tenant = tenantId('contoso')
    const records = Array.from({ length: 1_500 }, () => subscriptionRecord(tenant))
    await registry.subscriptions.importAll(records)
    const scanned = new Map<string, string>()
    let pages = 0
    for await (const page of registry.subscriptions.scan(tenant, 500)) {
      pages += 1
      for (const [id, json] of page) scanned.set(id, json)
    }
    expect(pages).toBeGreaterThan(1)
    expect(scanned.size).toBe(records.length)
    expect(JSON.parse(scanned.get(records[7]!.id)!)).toEqual(records[7])
    expect(await registry.subscriptions.getStored(tenant, records[7]!.id)).toBe(scanned.get(records[7]!.id))
    expect(await registry.subscriptions.getStored(tenant, 'sub_none')).toBeUndefined()

    const listed = new Set<string>()
    let cursor: string | undefined
    do {
      const page = await registry.subscriptions.list(tenant, { limit: 400, ...(cursor ? { cursor } : {}) })
      for (const item of page.items) listed.add(item.id)
      cursor = page.nextCursor
    } while (cursor)
    expect(listed.size).toBe(records.length)
  })

  it('imports in bulk with one version bump and one signal per tenant', async () => {
    const [a, b] = [tenantId('contoso'), tenantId('fabrikam')]
    const watch = await signals()
    await registry.subscriptions.importAll([subscriptionRecord(a), subscriptionRecord(a), subscriptionRecord(b)])
    await waitFor(() => watch.seen.filter((change) => change.tenantId === a || change.tenantId === b).length === 2)
    expect([await registry.subscriptions.version(a), await registry.subscriptions.version(b)]).toEqual(['1', '1'])
    expect(await redis.hlen(keys.fingerprints(a))).toBe(2)
    await watch.stop()
  })

  it('answers nothing for an empty tenant', async () => {
    const tenant = tenantId('empty')
    const pages = []
    for await (const page of registry.subscriptions.scan(tenant)) pages.push(...page)
    expect(pages).toEqual([])
    expect(await registry.subscriptions.version(tenant)).toBeNull()
  })
})

describe('layout', () => {
  it('is the one the dispatcher still reads through contracts until it moves onto the registry', () => {
    const legacy = redisKeys(ns.namespace)
    for (const name of ['subscriptions', 'fingerprints', 'version', 'deadLetters', 'deadLettersByTime'] as const) {
      expect(keys[name]('t1')).toBe(legacy[name]('t1'))
    }
    expect(keys.attempts('t1', 'sub_a')).toBe(legacy.attempts('sub_a'))
    expect(keys.failures('t1', 'sub_a')).toBe(legacy.failures('sub_a'))
    expect(keys.subscriptionsChanged).toBe(legacy.subscriptionsChanged)
    expect(keys.pipelineDeadLetters).toBe(legacy.pipelineDeadLetters)
    expect(legacyHistoryLimits).toMatchObject({
      attemptsPerSubscription: historyLimits.attemptsPerSubscription,
      deadLettersPerTenant: historyLimits.deadLettersPerTenant,
      deadLetterMaxAgeMs: historyLimits.deadLetterMaxAgeMs,
    })
  })
})
