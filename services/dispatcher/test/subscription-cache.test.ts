import { randomBytes } from 'node:crypto'
import { GOODS_RECEIVED, goodsReceived, sealingContext, type SubscriptionRecord } from '@arrivals/contracts'
import { waitFor } from '@arrivals/test-kit'
import { createSubscriptionRegistry } from '@arrivals/subscription-registry'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { SubscriptionCache } from '../src/adapters/redis/subscription-cache.js'
import { receipt, tenant, World } from './support.js'

const silent = { debug() {}, info() {}, warn() {}, error() {} }

describe('subscription cache', () => {
  const world = new World()
  afterAll(() => world.close())

  function cache(recheckMs = 1_000, size = 10_000) {
    return new SubscriptionCache({ subscriptions: createSubscriptionRegistry({ redis: world.redis, namespace: world.ns.namespace }).subscriptions, box: world.box, log: silent, recheckMs, size })
  }

  function subscriptionFor(tenantId: string, storeId: string): SubscriptionRecord {
    const id = `sub_${randomBytes(16).toString('base64url')}`
    return {
      id, tenantId, eventType: GOODS_RECEIVED, status: 'active', filters: { storeId },
      callbackSealed: world.box.seal(`https://flows.example.com/${id}`, sealingContext.callback(tenantId, id)),
      secretSealed: world.box.seal(`whsec_${randomBytes(24).toString('base64')}`, sealingContext.secret(tenantId, id)),
      callbackRedacted: 'https://flows.example.com/', fingerprint: `f-${id}`, flow: { platform: 'api' }, createdAt: '', updatedAt: '',
    }
  }

  it('indexes a tenant stored before the index once, then matches one store among thousands reading only that store, holding at most its size', async () => {
    const tenantId = tenant()
    const count = 5_000
    // The layout from before the per-store index: only the records, as the subscriptions service wrote them.
    const pipeline = world.redis.pipeline()
    for (let n = 0; n < count; n++) {
      const id = `sub_store${n}`
      pipeline.hset(world.keys.subscriptions(tenantId), id, JSON.stringify({
        id, tenantId, eventType: 'inventory.goods-received.v1', status: 'active', filters: { storeId: `store-${n}` },
        callbackSealed: world.box.seal(`https://flows.example.com/${n}?sig=x`, sealingContext.callback(tenantId, id)),
        secretSealed: world.box.seal(`whsec_${Buffer.alloc(24, n % 256).toString('base64')}`, sealingContext.secret(tenantId, id)),
        callbackRedacted: `https://flows.example.com/${n}`, fingerprint: `f${n}`, flow: {}, createdAt: '', updatedAt: '',
      }))
    }
    await pipeline.exec()
    const subject = cache(1_000, 100)
    const matches = await subject.match(tenantId, receipt(tenantId, { storeId: 'store-4321' }), goodsReceived)
    expect(matches.map((m) => m.record.id)).toEqual(['sub_store4321'])
    expect(matches[0]!.callbackUrl()).toBe('https://flows.example.com/4321?sig=x')
    // Indexed now: later events read their store's index, never the tenant's records in pages.
    const hscan = vi.spyOn(world.redis, 'hscan')
    const evalsha = vi.spyOn(world.redis, 'evalsha')
    for (let n = 0; n < 300; n++) expect(await subject.match(tenantId, receipt(tenantId, { storeId: `store-${n}` }), goodsReceived)).toHaveLength(1)
    expect(hscan).not.toHaveBeenCalled()
    expect(evalsha.mock.calls.length).toBe(300)
    // Bounded by its size, not by the tenant: at most 100 subscriptions and 100 index entries held of 301 used.
    expect(subject.held.subscriptions).toBeLessThanOrEqual(100)
    expect(subject.held.indexEntries).toBeLessThanOrEqual(100)
    // A store matched again while held costs no read.
    expect(await subject.match(tenantId, receipt(tenantId, { storeId: 'store-299' }), goodsReceived)).toHaveLength(1)
    expect(evalsha.mock.calls.length).toBe(300)
    // A task of a subscription that does not exist reads that one record, and only once.
    const hget = vi.spyOn(world.redis, 'hget')
    expect(await subject.find(tenantId, 'sub_gone')).toBeUndefined()
    expect(await subject.find(tenantId, 'sub_gone')).toBeUndefined()
    expect(hget.mock.calls.length).toBe(1)
    hscan.mockRestore()
    evalsha.mockRestore()
    hget.mockRestore()
  })

  it('drops only the subscription and the store a change names, so one tenant\'s churn reloads only what changed', async () => {
    const tenantId = tenant()
    const subject = cache()
    const watch = subject.watch(() => {})
    const kept = await world.subscribe({ tenantId, url: 'https://flows.example.com/kept', filters: { storeId: 'store-a' } })
    await waitFor(async () => (await subject.match(tenantId, receipt(tenantId, { storeId: 'store-a' }), goodsReceived)).length === 1, { what: 'the first subscription' })
    expect(await subject.match(tenantId, receipt(tenantId, { storeId: 'store-b' }), goodsReceived)).toHaveLength(0)
    const registry = createSubscriptionRegistry({ redis: world.redis, namespace: world.ns.namespace }).subscriptions
    const evalsha = vi.spyOn(world.redis, 'evalsha')
    const churned = subscriptionFor(tenantId, 'store-b')
    await registry.create(churned)
    await waitFor(async () => (await subject.match(tenantId, receipt(tenantId, { storeId: 'store-b' }), goodsReceived)).length === 1, { what: 'the new subscription' })
    const reads = evalsha.mock.calls.length
    // store-a was not named by the change: still held, no read.
    expect((await subject.match(tenantId, receipt(tenantId, { storeId: 'store-a' }), goodsReceived)).map((m) => m.record.id)).toEqual([kept.id])
    expect(evalsha.mock.calls.length).toBe(reads)
    await registry.remove(tenantId, churned.id)
    await waitFor(async () => (await subject.match(tenantId, receipt(tenantId, { storeId: 'store-b' }), goodsReceived)).length === 0, { what: 'the removal' })
    evalsha.mockRestore()
    await watch.close()
  })

  it('notices a change through the version even when the notification was lost', async () => {
    const tenantId = tenant()
    const subject = cache(100)
    expect(await subject.match(tenantId, receipt(tenantId), goodsReceived)).toHaveLength(0)
    const { id } = await world.subscribe({ tenantId, url: 'https://flows.example.com/hook' })
    await new Promise((resolve) => setTimeout(resolve, 150))
    // `subject` never subscribed to the channel: only the version check can tell it.
    expect((await subject.match(tenantId, receipt(tenantId), goodsReceived)).map((m) => m.record.id)).toEqual([id])
  })
})
