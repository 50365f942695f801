import { deliveryIdFor, type GoodsReceivedNotification } from '@arrivals/contracts'
import { startReceiver, waitFor, type Receiver } from '@arrivals/test-kit'
import { Webhook } from 'standardwebhooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { atLeast, receipt, tenant, World } from './support.js'

describe('fan-out and delivery', () => {
  const world = new World()
  let receiver: Receiver

  beforeAll(async () => {
    receiver = await startReceiver()
    await world.start()
  })
  afterAll(async () => {
    await world.close()
    await receiver.close()
  })

  it('delivers an event as a Standard Webhooks request that the standardwebhooks library verifies', async () => {
    const tenantId = tenant()
    const { id, secret } = await world.subscribe({ tenantId, url: `${receiver.url}/flows/signed?sig=top-secret` })
    const event = receipt(tenantId)
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    await world.publish(event, traceparent)

    const [request] = await atLeast(1, () => receiver.requests.filter((r) => r.path.startsWith('/flows/signed')), 'the signed webhook')
    expect(request!.method).toBe('POST')
    expect(request!.path).toBe('/flows/signed?sig=top-secret')
    expect(request!.headers['webhook-id']).toBe(deliveryIdFor(event.id, id))
    expect(request!.headers.traceparent).toBe(traceparent)
    const verified = new Webhook(secret).verify(request!.body, request!.headers as Record<string, string>) as GoodsReceivedNotification
    expect(verified.eventId).toBe(event.id)
    expect(verified.receiptId).toBe(event.data.receiptId)
    expect(verified.totalQuantity).toBe(5)
    // A wrong secret does not verify: the signature really depends on it.
    const other = `whsec_${Buffer.alloc(24, 7).toString('base64')}`
    expect(() => new Webhook(other).verify(request!.body, request!.headers as Record<string, string>)).toThrow()

    const attempts = await atLeast(1, () => world.attempts(id), 'an attempt record')
    expect(attempts[0]).toMatchObject({ outcome: 'delivered', status: 200, attempt: 1, eventId: event.id })
    // The history expires when nothing is added to it (30 days), so a deleted subscription's does too.
    const ttl = await world.redis.pttl(world.keys.attempts(tenantId, id))
    expect(ttl).toBeGreaterThan(29 * 86_400_000)
    expect(ttl).toBeLessThanOrEqual(30 * 86_400_000)
  })

  it('matches filters (storeId, sku, minQuantity vs totalQuantity) and never crosses tenants', async () => {
    const tenantId = tenant()
    const otherTenant = tenant()
    const path = (name: string) => `${receiver.url}/filters/${tenantId}/${name}`
    await world.subscribe({ tenantId, url: path('all') })
    await world.subscribe({ tenantId, url: path('store-2'), filters: { storeId: 'store-2' } })
    await world.subscribe({ tenantId, url: path('sku-b'), filters: { sku: 'SKU-B' } })
    await world.subscribe({ tenantId, url: path('min-10'), filters: { minQuantity: 10 } })
    await world.subscribe({ tenantId, url: path('store-2-sku-b'), filters: { storeId: 'store-2', sku: 'SKU-B' } })
    await world.subscribe({ tenantId: otherTenant, url: path('other-tenant') })

    const small = receipt(tenantId, { storeId: 'store-1', items: [{ sku: 'SKU-A', quantity: 3 }] })
    const big = receipt(tenantId, { storeId: 'store-2', items: [{ sku: 'SKU-A', quantity: 4 }, { sku: 'SKU-B', quantity: 6 }] })
    await world.publish(small)
    await world.publish(big)

    const expected: Record<string, string[]> = {
      all: [small.id, big.id],
      'store-2': [big.id],
      'sku-b': [big.id],
      'min-10': [big.id],
      'store-2-sku-b': [big.id],
      'other-tenant': [],
    }
    const total = Object.values(expected).flat().length
    const ours = () => receiver.requests.filter((r) => r.path.startsWith(`/filters/${tenantId}/`))
    await waitFor(() => ours().length >= total, { what: `${total} filtered deliveries` })
    // Give a wrong extra delivery the chance to show up.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const got: Record<string, string[]> = {}
    for (const name of Object.keys(expected)) got[name] = []
    for (const request of ours()) {
      const name = request.path.split('/').pop()!
      got[name]!.push((JSON.parse(request.body) as GoodsReceivedNotification).eventId)
    }
    for (const name of Object.keys(got)) got[name]!.sort()
    for (const name of Object.keys(expected)) expected[name]!.sort()
    expect(got).toEqual(expected)
  })

  it('sees a subscription created after the tenant was cached, and drops one that was deleted', async () => {
    const tenantId = tenant()
    const late = () => receiver.requests.filter((r) => r.path === `/late/${tenantId}`).map((r) => (JSON.parse(r.body) as GoodsReceivedNotification).eventId)
    // The tenant is cached with no subscriptions (the event matches nothing).
    await world.publish(receipt(tenantId))
    await new Promise((resolve) => setTimeout(resolve, 300))
    const { id, record } = await world.subscribe({ tenantId, url: `${receiver.url}/late/${tenantId}` })
    const first = receipt(tenantId)
    await world.publish(first)
    await waitFor(() => late().includes(first.id), { what: 'delivery to the new subscription' })

    await world.redis.multi().hdel(world.keys.subscriptions(tenantId), id).hdel(world.keys.fingerprints(tenantId), record.fingerprint).incr(world.keys.version(tenantId)).exec()
    await world.redis.publish(world.keys.subscriptionsChanged, tenantId)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const afterDelete = receipt(tenantId)
    await world.publish(afterDelete)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(late()).toEqual([first.id])
    expect(late()).not.toContain(afterDelete.id)
  })

  it('sends nothing to a disabled subscription', async () => {
    const tenantId = tenant()
    await world.subscribe({ tenantId, url: `${receiver.url}/disabled/${tenantId}`, status: 'disabled' })
    const { id: activeId } = await world.subscribe({ tenantId, url: `${receiver.url}/enabled/${tenantId}` })
    await world.publish(receipt(tenantId))
    await waitFor(async () => (await world.attempts(activeId)).length > 0, { what: 'the active subscription delivered' })
    expect(receiver.requests.filter((r) => r.path === `/disabled/${tenantId}`)).toHaveLength(0)
  })
})
