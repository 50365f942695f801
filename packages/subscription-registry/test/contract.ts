import { describe, expect, it } from 'vitest'
import { historyLimits, QuotaExceededError, type SubscriptionRegistry, type SubscriptionsChanged } from '../src/index.js'
import { attemptRecord, deadLetterRecord, eventually, subscriptionId, subscriptionRecord, tenantId } from './support.js'

/**
 * What every registry does, said through its API only: run against Redis (test/redis.test.ts) and
 * against the in-memory one (test/unit/memory.test.ts), so the fake cannot drift from the real thing.
 */
export function registryContract(registry: () => SubscriptionRegistry): void {
  /** Collects change signals from the moment the watch is subscribed. */
  async function signals(): Promise<{ seen: SubscriptionsChanged[]; stop(): Promise<void> }> {
    const seen: SubscriptionsChanged[] = []
    const watch = registry().subscriptions.watch((change) => seen.push(change))
    await eventually(() => seen.some((change) => change.tenantId === undefined), { what: 'the watch subscribed' })
    return { seen, stop: () => watch.close() }
  }

  async function all(tenant: string): Promise<Map<string, string>> {
    const found = new Map<string, string>()
    for await (const page of registry().subscriptions.scan(tenant, 500)) for (const [id, json] of page) found.set(id, json)
    return found
  }

  describe('subscriptions', () => {
    it('makes one subscription of eight concurrent creates of one flow, bumping the version once', async () => {
      const { subscriptions } = registry()
      const tenant = tenantId('contoso')
      const records = Array.from({ length: 8 }, () => subscriptionRecord(tenant, { fingerprint: 'fp-same-flow' }))
      const results = await Promise.all(records.map((record) => subscriptions.create(record)))
      expect(results.filter((result) => result.created)).toHaveLength(1)
      const winner = records[results.findIndex((result) => result.created)]!
      for (const result of results) if (!result.created) expect(result.id).toBe(winner.id)
      expect([...(await all(tenant)).keys()]).toEqual([winner.id])
      expect(await subscriptions.idByFingerprint(tenant, 'fp-same-flow')).toBe(winner.id)
      expect(await subscriptions.version(tenant)).toBe('1')
    })

    it('signals every change with the tenant, after saying "start afresh" once subscribed', async () => {
      const { subscriptions } = registry()
      const tenant = tenantId('contoso')
      const watch = await signals()
      const record = subscriptionRecord(tenant)
      await subscriptions.create(record)
      await subscriptions.disable(tenant, record.id, 'paused by an operator')
      await subscriptions.enable(tenant, record.id)
      await subscriptions.remove(tenant, record.id)
      await eventually(() => watch.seen.filter((change) => change.tenantId === tenant).length === 4)
      expect(await subscriptions.version(tenant)).toBe('4')
      await watch.stop()
    })

    it('updates nothing that does not exist, and writes nothing when the change is none', async () => {
      const { subscriptions } = registry()
      const tenant = tenantId('contoso')
      expect(await subscriptions.update(tenant, 'sub_none', (current) => current)).toBeUndefined()
      const record = subscriptionRecord(tenant)
      await subscriptions.create(record)
      expect(await subscriptions.update(tenant, record.id, () => undefined)).toEqual(record)
      const rotated = await subscriptions.update(tenant, record.id, (current) => ({ ...current, secretSealed: 'rotated' }))
      expect(rotated).toEqual({ ...record, secretSealed: 'rotated' })
      expect(await subscriptions.get(tenant, record.id)).toEqual(rotated)
      expect(await subscriptions.version(tenant)).toBe('2')
    })

    it('applies 30 concurrent updates of one record, each once, none lost (compare-and-set converges)', async () => {
      const { subscriptions } = registry()
      const tenant = tenantId('contoso')
      const record = subscriptionRecord(tenant)
      await subscriptions.create(record)
      const seen: string[] = []
      const results = await Promise.all(Array.from({ length: 30 }, (_, n) => subscriptions.update(tenant, record.id, (current) => {
        seen.push(current.secretSealed)
        return { ...current, secretSealed: `writer-${n}` }
      })))
      expect(results.map((result) => result?.secretSealed)).toEqual(Array.from({ length: 30 }, (_, n) => `writer-${n}`))
      expect(await subscriptions.version(tenant)).toBe('31')
    })

    it('enables and disables for an operator (mirror images), keeping the rest of the record', async () => {
      const { subscriptions } = registry()
      const tenant = tenantId('contoso')
      const record = subscriptionRecord(tenant)
      await subscriptions.create(record)
      const at = new Date('2026-11-29T10:00:00.000Z')
      const disabled = await subscriptions.disable(tenant, record.id, 'paused by an operator', at)
      expect(disabled).toEqual({ ...record, status: 'disabled', disabledReason: 'paused by an operator', disabledAt: at.toISOString(), updatedAt: at.toISOString() })
      expect(await subscriptions.disable(tenant, record.id, 'again', new Date())).toEqual(disabled)
      const enabled = await subscriptions.enable(tenant, record.id, at)
      expect(enabled).toEqual({ ...record, updatedAt: at.toISOString() })
      expect(await subscriptions.version(tenant)).toBe('3')
      expect(await subscriptions.enable(tenant, 'sub_none')).toBeUndefined()
      expect(await subscriptions.disable(tenant, 'sub_none', 'x')).toBeUndefined()
    })

    it('disables after failures with the reason and ends the streak; not when already disabled or gone', async () => {
      const { subscriptions, failures } = registry()
      const tenant = tenantId('contoso')
      const record = subscriptionRecord(tenant)
      await subscriptions.create(record)
      await failures.record(tenant, record.id, 1_000)
      await failures.record(tenant, record.id, 2_000)
      expect(await subscriptions.disableAfterFailures(tenant, record.id, 'failed for 24 h')).toBe(true)
      expect(await subscriptions.get(tenant, record.id)).toMatchObject({ status: 'disabled', disabledReason: 'failed for 24 h' })
      expect(await failures.record(tenant, record.id, 3_000)).toEqual({ count: 1, sinceMs: 3_000 })
      expect(await subscriptions.version(tenant)).toBe('2')
      expect(await subscriptions.disableAfterFailures(tenant, record.id, 'again')).toBe(false)
      expect(await subscriptions.disableAfterFailures(tenant, 'sub_none', 'x')).toBe(false)
      expect(await subscriptions.version(tenant)).toBe('2')
    })

    it('removes the record, its fingerprint, attempt history and failure streak; false the second time', async () => {
      const { subscriptions, attempts, failures } = registry()
      const tenant = tenantId('contoso')
      const record = subscriptionRecord(tenant)
      await subscriptions.create(record)
      await attempts.write({ records: [{ tenantId: tenant, subscriptionId: record.id, attempts: [attemptRecord(1, 'gone')] }], succeeded: [] })
      await failures.record(tenant, record.id, 1_000)
      expect(await subscriptions.remove(tenant, record.id)).toBe(true)
      expect(await subscriptions.get(tenant, record.id)).toBeUndefined()
      expect(await subscriptions.idByFingerprint(tenant, record.fingerprint)).toBeUndefined()
      expect(await attempts.list(tenant, record.id, 10)).toEqual([])
      expect(await failures.record(tenant, record.id, 5_000)).toEqual({ count: 1, sinceMs: 5_000 })
      expect(await subscriptions.version(tenant)).toBe('2')
      expect(await subscriptions.remove(tenant, record.id)).toBe(false)
      expect(await subscriptions.version(tenant)).toBe('2')
      // The same flow subscribing again is a new subscription.
      expect(await subscriptions.create(subscriptionRecord(tenant, { fingerprint: record.fingerprint }))).toEqual({ created: true })
    })

    it('imports in bulk (one version bump per tenant), lists in cursor pages and scans every record as stored', async () => {
      const { subscriptions } = registry()
      const [tenant, other] = [tenantId('contoso'), tenantId('fabrikam')]
      const records = Array.from({ length: 1_200 }, () => subscriptionRecord(tenant))
      await subscriptions.importAll([...records, subscriptionRecord(other)])
      expect([await subscriptions.version(tenant), await subscriptions.version(other)]).toEqual(['1', '1'])
      const scanned = await all(tenant)
      expect(scanned.size).toBe(records.length)
      expect(JSON.parse(scanned.get(records[7]!.id)!)).toEqual(records[7])
      expect(await subscriptions.getStored(tenant, records[7]!.id)).toBe(scanned.get(records[7]!.id))
      expect(await subscriptions.getStored(tenant, 'sub_none')).toBeUndefined()
      expect(await subscriptions.idByFingerprint(tenant, records[9]!.fingerprint)).toBe(records[9]!.id)

      const listed = new Set<string>()
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await subscriptions.list(tenant, { limit: 400, ...(cursor ? { cursor } : {}) })
        for (const item of page.items) listed.add(item.id)
        cursor = page.nextCursor
        pages += 1
      } while (cursor)
      expect(listed.size).toBe(records.length)
      expect(pages).toBeGreaterThan(1)
    })

    it('refuses a new subscription over the tenant\'s quota, naming it, with nothing written; a re-subscribe never', async () => {
      const { subscriptions } = registry()
      const tenant = tenantId('contoso')
      const quotas = { subscriptions: 2, subscriptionsPerStore: 10 }
      const first = subscriptionRecord(tenant)
      await subscriptions.create(first, quotas)
      await subscriptions.create(subscriptionRecord(tenant), quotas)
      const before = await all(tenant)
      const version = await subscriptions.version(tenant)
      const over = subscriptionRecord(tenant)
      const refused = await subscriptions.create(over, quotas).catch((error: unknown) => error)
      expect(refused).toBeInstanceOf(QuotaExceededError)
      expect(refused).toMatchObject({ quota: 'subscriptions', limit: 2, message: expect.stringMatching(/quota of 2 subscriptions \(QUOTA_SUBSCRIPTIONS\)/) })
      expect(await all(tenant)).toEqual(before)
      expect(await subscriptions.version(tenant)).toBe(version)
      expect(await subscriptions.idByFingerprint(tenant, over.fingerprint)).toBeUndefined()
      // The same flow again is no new subscription, and another tenant has its own quota.
      expect(await subscriptions.create({ ...subscriptionRecord(tenant), fingerprint: first.fingerprint }, quotas)).toEqual({ created: false, id: first.id })
      expect(await subscriptions.create(subscriptionRecord(tenantId('fabrikam')), quotas)).toEqual({ created: true })
      // A removal makes room.
      await subscriptions.remove(tenant, first.id)
      expect(await subscriptions.create(over, quotas)).toEqual({ created: true })
    })

    it('counts subscriptions per store (those for every store as one more store), and frees a slot on removal', async () => {
      const { subscriptions } = registry()
      const tenant = tenantId('contoso')
      const quotas = { subscriptions: 100, subscriptionsPerStore: 2 }
      const onStore7 = [subscriptionRecord(tenant, { filters: { storeId: 'store-7' } }), subscriptionRecord(tenant, { filters: { storeId: 'store-7', sku: 'A' } })]
      for (const record of onStore7) await subscriptions.create(record, quotas)
      await expect(subscriptions.create(subscriptionRecord(tenant, { filters: { storeId: 'store-7' } }), quotas))
        .rejects.toMatchObject({ quota: 'subscriptions-per-store', limit: 2, message: expect.stringMatching(/quota of 2 subscriptions per store \(QUOTA_SUBSCRIPTIONS_PER_STORE\) on store store-7/) })
      expect(await subscriptions.create(subscriptionRecord(tenant, { filters: { storeId: 'store-8' } }), quotas)).toEqual({ created: true })
      for (let n = 0; n < 2; n++) await subscriptions.create(subscriptionRecord(tenant), quotas)
      await expect(subscriptions.create(subscriptionRecord(tenant), quotas)).rejects.toMatchObject({ quota: 'subscriptions-per-store', message: expect.stringMatching(/for every store/) })
      await subscriptions.remove(tenant, onStore7[0]!.id)
      expect(await subscriptions.create(subscriptionRecord(tenant, { filters: { storeId: 'store-7' } }), quotas)).toEqual({ created: true })
      expect((await all(tenant)).size).toBe(5)
    })

    it('finds an event\'s candidates by event type and store, kept in step by create, update and remove', async () => {
      const { subscriptions } = registry()
      const tenant = tenantId('contoso')
      const onStore7 = subscriptionRecord(tenant, { filters: { storeId: 'store-7' } })
      const everywhere = subscriptionRecord(tenant)
      const otherType = subscriptionRecord(tenant, { eventType: 'inventory.stock-adjusted.v1', filters: { storeId: 'store-7' } })
      for (const record of [onStore7, everywhere, otherType, subscriptionRecord(tenant, { filters: { storeId: 'store-8' } })]) await subscriptions.create(record)
      await subscriptions.importAll([subscriptionRecord(tenantId('fabrikam'), { filters: { storeId: 'store-7' } })])
      expect(await subscriptions.ensureIndexed(tenant)).toBe(false)
      const read = async (storeIds: Array<string | undefined>) => (await subscriptions.candidates(tenant, 'inventory.goods-received.v1', storeIds))
        .map(({ ids, records }) => ids.map((id, n) => [id, records[n] === undefined ? undefined : (JSON.parse(records[n]!) as { id: string }).id]))
      expect(await read(['store-7', undefined])).toEqual([[[onStore7.id, onStore7.id]], [[everywhere.id, everywhere.id]]])
      expect(await read(['store-9'])).toEqual([[]])
      // An update that moves the store moves the id; a removal takes it out.
      await subscriptions.update(tenant, everywhere.id, (current) => ({ ...current, filters: { storeId: 'store-9' } }))
      expect(await read(['store-9', undefined])).toEqual([[[everywhere.id, everywhere.id]], []])
      await subscriptions.remove(tenant, onStore7.id)
      expect(await read(['store-7'])).toEqual([[]])
      expect((await subscriptions.candidates(tenant, 'inventory.stock-adjusted.v1', ['store-7']))[0]!.ids).toEqual([otherType.id])
      expect(await subscriptions.getStoredMany(tenant, [otherType.id, 'sub_none'])).toEqual([JSON.stringify(otherType), undefined])
    })

    it('names the subscription, its event type and store in the signal of its change; a bulk import signals the tenant', async () => {
      const { subscriptions } = registry()
      const tenant = tenantId('contoso')
      const watch = await signals()
      const record = subscriptionRecord(tenant, { filters: { storeId: 'store-3' } })
      await subscriptions.create(record)
      await subscriptions.disable(tenant, record.id, 'paused')
      await subscriptions.remove(tenant, record.id)
      const everywhere = subscriptionRecord(tenant)
      await subscriptions.create(everywhere)
      await subscriptions.importAll([subscriptionRecord(tenant)])
      await eventually(() => watch.seen.filter((change) => change.tenantId === tenant).length === 5)
      const subscription = { id: record.id, eventType: 'inventory.goods-received.v1', storeId: 'store-3' }
      expect(watch.seen.filter((change) => change.tenantId === tenant)).toEqual([
        { tenantId: tenant, subscription }, { tenantId: tenant, subscription }, { tenantId: tenant, subscription },
        { tenantId: tenant, subscription: { id: everywhere.id, eventType: 'inventory.goods-received.v1', storeId: undefined } },
        { tenantId: tenant },
      ])
      await watch.stop()
    })

    it('answers nothing for an empty tenant', async () => {
      const { subscriptions } = registry()
      const tenant = tenantId('empty')
      expect([...(await all(tenant))]).toEqual([])
      expect(await subscriptions.version(tenant)).toBeNull()
      expect(await subscriptions.list(tenant, { limit: 10 })).toEqual({ items: [] })
    })
  })

  describe('attempts and failures', () => {
    it('writes a batch: newest first, capped; a success ends the failure streak', async () => {
      const { attempts, failures } = registry()
      const tenant = tenantId('contoso')
      const [subA, subB] = [subscriptionId(), subscriptionId()]
      await failures.record(tenant, subB, 1_000)
      const many = Array.from({ length: historyLimits.attemptsPerSubscription + 5 }, (_, index) => attemptRecord(index + 1))
      await attempts.write({
        records: [
          { tenantId: tenant, subscriptionId: subA, attempts: many.slice(0, 50) },
          { tenantId: tenant, subscriptionId: subB, attempts: [attemptRecord(1, 'delivered')] },
        ],
        succeeded: [{ tenantId: tenant, subscriptionId: subB }],
      })
      await attempts.write({ records: [{ tenantId: tenant, subscriptionId: subA, attempts: many.slice(50) }], succeeded: [] })
      const listed = await attempts.list(tenant, subA, 1_000)
      expect(listed).toHaveLength(historyLimits.attemptsPerSubscription)
      expect(listed[0]).toEqual(many.at(-1))
      expect(listed.at(-1)).toEqual(many[5])
      expect(await attempts.list(tenant, subA, 2)).toEqual([many.at(-1), many.at(-2)])
      expect(await attempts.list(tenant, subB, 10)).toMatchObject([{ outcome: 'delivered' }])
      expect(await failures.record(tenant, subB, 9_000)).toEqual({ count: 1, sinceMs: 9_000 })
      await attempts.write({ records: [], succeeded: [] })
      expect(await attempts.list(tenantId('none'), 'sub_none', 10)).toEqual([])
    })

    it('counts a failure streak from its first failure, and clears it', async () => {
      const { failures } = registry()
      const tenant = tenantId('contoso')
      const [subA, subB] = [subscriptionId(), subscriptionId()]
      expect(await failures.record(tenant, subA, 1_000)).toEqual({ count: 1, sinceMs: 1_000 })
      expect(await failures.record(tenant, subA, 5_000)).toEqual({ count: 2, sinceMs: 1_000 })
      expect(await failures.record(tenant, subB, 6_000)).toEqual({ count: 1, sinceMs: 6_000 })
      await failures.clear(tenant, subA)
      expect(await failures.record(tenant, subA, 9_000)).toEqual({ count: 1, sinceMs: 9_000 })
    })
  })

  describe('dead letters', () => {
    it('archives a tenant\'s (twice is once), lists them newest first, by subscription, since T, and removes them', async () => {
      const { deadLetters } = registry()
      const tenant = tenantId('contoso')
      const base = Date.now() - 60_000
      const records = [
        deadLetterRecord(tenant, { subscriptionId: 'sub_a' }),
        deadLetterRecord(tenant, { subscriptionId: 'sub_b' }),
        deadLetterRecord(tenant, { subscriptionId: 'sub_a' }),
      ]
      for (const [index, record] of records.entries()) await deadLetters.archive(record, new Date(base + index * 1_000))
      await deadLetters.archive(records[2]!, new Date(base + 2_000))

      expect((await deadLetters.list(tenant, { limit: 10, offset: 0 })).map((r) => r.id)).toEqual([records[2]!.id, records[1]!.id, records[0]!.id])
      expect((await deadLetters.list(tenant, { limit: 1, offset: 1 })).map((r) => r.id)).toEqual([records[1]!.id])
      expect((await deadLetters.list(tenant, { limit: 1, offset: 1, subscriptionId: 'sub_a' })).map((r) => r.id)).toEqual([records[0]!.id])
      expect((await deadLetters.since(tenant, 'sub_a', base - 1)).map((r) => r.id)).toEqual([records[0]!.id, records[2]!.id])
      expect((await deadLetters.since(tenant, 'sub_a', base + 500)).map((r) => r.id)).toEqual([records[2]!.id])
      expect(await deadLetters.get(tenant, records[1]!.id)).toEqual(records[1])
      expect(await deadLetters.get(tenantId('fabrikam'), records[1]!.id)).toBeUndefined()
      expect(await deadLetters.remove(tenant, [records[1]!.id, 'dl_none'])).toBe(1)
      expect(await deadLetters.get(tenant, records[1]!.id)).toBeUndefined()
      expect((await deadLetters.list(tenant, { limit: 10, offset: 0 })).map((r) => r.id)).toEqual([records[2]!.id, records[0]!.id])
      expect(await deadLetters.remove(tenant, [])).toBe(0)
    })

    it('walks "since T" a bounded number at a time, never skipping one of the millisecond where it stops', async () => {
      const { deadLetters } = registry()
      const tenant = tenantId('contoso')
      const base = Date.now() - 60_000
      // Five of sub_a and five of sub_b, alternating, two per millisecond.
      const records = Array.from({ length: 10 }, (_, index) => deadLetterRecord(tenant, { subscriptionId: index % 2 === 0 ? 'sub_a' : 'sub_b' }))
      for (const [index, record] of records.entries()) await deadLetters.archive(record, new Date(base + Math.floor(index / 2)))
      const seen: string[] = []
      let from = base
      let calls = 0
      for (;;) {
        const page = await deadLetters.scanSince(tenant, 'sub_a', from, 3)
        calls += 1
        seen.push(...page.records.map((record) => record.id))
        if (page.nextSinceMs === undefined) break
        expect(page.nextSinceMs).toBeGreaterThan(from)
        from = page.nextSinceMs
      }
      expect(calls).toBe(3)
      expect(seen.sort()).toEqual(records.filter((record) => record.subscriptionId === 'sub_a').map((record) => record.id).sort())
      expect(await deadLetters.scanSince(tenant, 'sub_a', base + 10, 3)).toEqual({ records: [] })
    })

    it('drops a tenant\'s dead letters older than the maximum age on the next write', async () => {
      const { deadLetters } = registry()
      const tenant = tenantId('contoso')
      const now = Date.now()
      const old = deadLetterRecord(tenant)
      await deadLetters.archive(old, new Date(now - historyLimits.deadLetterMaxAgeMs - 1_000))
      expect(await deadLetters.get(tenant, old.id)).toEqual(old)
      const fresh = deadLetterRecord(tenant)
      await deadLetters.archive(fresh, new Date(now))
      expect(await deadLetters.get(tenant, old.id)).toBeUndefined()
      expect((await deadLetters.list(tenant, { limit: 10, offset: 0 })).map((r) => r.id)).toEqual([fresh.id])
    })

    it('keeps dead letters without a tenant apart, newest first', async () => {
      const { deadLetters } = registry()
      const records = Array.from({ length: 3 }, () => deadLetterRecord(null, { class: 'pipeline', subscriptionId: null, body: 'not json' }))
      for (const record of records) await deadLetters.archive(record)
      expect((await deadLetters.listWithoutTenant(2)).map((r) => r.id)).toEqual([records[2]!.id, records[1]!.id])
    })

    it('parks a tenant\'s record in the list without a tenant, as it is, and leaves the tenant\'s archive alone', async () => {
      const { deadLetters } = registry()
      const tenant = tenantId('contoso')
      const archived = deadLetterRecord(tenant)
      await deadLetters.archive(archived)
      const parked = deadLetterRecord(tenant, { class: 'pipeline', subscriptionId: null, reason: 'parked: the archive could not store this dead letter', body: '{"kind":"deliver"' })
      await deadLetters.park(parked)
      // Newest first in the shared list (other tests' records may follow it).
      expect(await deadLetters.listWithoutTenant(1)).toEqual([parked])
      expect(await deadLetters.get(tenant, parked.id)).toBeUndefined()
      expect((await deadLetters.list(tenant, { limit: 10, offset: 0 })).map((r) => r.id)).toEqual([archived.id])
    })
  })
}
