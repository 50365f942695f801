import { goodsReceived, sealingContext } from '@arrivals/contracts'
import { createSubscriptionRegistry } from '@arrivals/subscription-registry'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { SubscriptionCache } from '../src/adapters/redis/subscription-cache.js'
import { receipt, tenant, World } from './support.js'

const silent = { debug() {}, info() {}, warn() {}, error() {} }

describe('subscription cache', () => {
  const world = new World()
  afterAll(() => world.close())

  function cache(recheckMs = 1_000) {
    return new SubscriptionCache({ subscriptions: createSubscriptionRegistry({ redis: world.redis, namespace: world.ns.namespace }).subscriptions, box: world.box, log: silent, recheckMs })
  }

  it('matches one store among thousands of subscriptions of the tenant, from memory', async () => {
    const tenantId = tenant()
    const count = 5_000
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
    const subject = cache()
    const hscan = vi.spyOn(world.redis, 'hscan')
    const matches = await subject.match(tenantId, receipt(tenantId, { storeId: 'store-4321' }), goodsReceived)
    expect(matches.map((m) => m.record.id)).toEqual(['sub_store4321'])
    expect(matches[0]!.callbackUrl()).toBe('https://flows.example.com/4321?sig=x')
    const pages = hscan.mock.calls.length
    expect(pages).toBeGreaterThan(1)
    // Served from memory now: no more reads, whatever the store.
    for (let n = 0; n < 100; n++) expect(await subject.match(tenantId, receipt(tenantId, { storeId: `store-${n}` }), goodsReceived)).toHaveLength(1)
    expect(hscan.mock.calls.length).toBe(pages)
    // A task of a subscription that does not exist reads that one record, not the tenant, and only once.
    const hget = vi.spyOn(world.redis, 'hget')
    expect(await subject.find(tenantId, 'sub_gone')).toBeUndefined()
    expect(await subject.find(tenantId, 'sub_gone')).toBeUndefined()
    expect(hget.mock.calls.length).toBe(1)
    expect(hscan.mock.calls.length).toBe(pages)
    hscan.mockRestore()
    hget.mockRestore()
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
