import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deliveryIdFor, type DeliveryTask } from '@arrivals/contracts'
import { createNamespace, waitFor } from '@arrivals/test-kit'
import { createOrderAndPace, type OrderAndPace } from '../src/index.js'
import { subscriptionId, tenantId } from './support.js'

const ns = createNamespace('order-pace')
let redis: Redis
let stored: OrderAndPace

beforeAll(() => {
  redis = new Redis(ns.redisUrl)
  stored = createOrderAndPace({ redis, namespace: ns.namespace })
})
afterAll(async () => {
  redis?.disconnect()
  await ns.cleanup()
})

function task(tenant: string, subscription: string, eventId: string, store = 'store-1'): DeliveryTask & { orderKey: string } {
  return {
    kind: 'deliver', deliveryId: deliveryIdFor(eventId, subscription), subscriptionId: subscription, tenantId: tenant, eventId,
    eventType: 'inventory.goods-received.v1', attempt: 1, createdAt: Date.now(), origin: 'event', orderKey: store,
    payload: {
      eventId, eventType: 'inventory.goods-received.v1', occurredAt: '2026-03-01T09:30:00.000Z', receiptId: eventId, storeId: store, storeName: store,
      supplier: 'Northwind', receivedAt: '2026-03-01T09:30:00.000Z', items: [{ sku: 'A', name: 'A', quantity: 1, unit: 'case' }], totalQuantity: 1,
    },
  }
}

describe('ordered delivery queues', () => {
  it('lets only the head go; releasing it hands over the next one, which is removed only after it was published', async () => {
    const tenant = tenantId('order')
    const sub = subscriptionId()
    const [a, b, c] = ['e1', 'e2', 'e3'].map((id) => task(tenant, sub, id))
    expect(await stored.order.enqueue(a!)).toEqual({ position: 'head', length: 1 })
    expect(await stored.order.enqueue(b!)).toEqual({ position: 'queued', length: 2 })
    expect(await stored.order.enqueue(c!)).toEqual({ position: 'queued', length: 3 })
    // Fanned out again after a crash: the same place, nothing added.
    expect(await stored.order.enqueue(a!)).toEqual({ position: 'head', length: 3 })
    expect(await stored.order.enqueue(b!)).toEqual({ position: 'queued', length: 3 })
    // Another store of the same subscription, and another subscription, are queues of their own.
    expect((await stored.order.enqueue(task(tenant, sub, 'e4', 'store-2'))).position).toBe('head')
    expect((await stored.order.enqueue(task(tenant, subscriptionId(), 'e5'))).position).toBe('head')

    expect(await stored.order.position(a!)).toBe('head')
    expect(await stored.order.position(b!)).toBe('queued')

    // A release that fails to publish leaves the head where it was.
    await expect(stored.order.release(a!, () => Promise.reject(new Error('broker away')))).rejects.toThrow('broker away')
    expect(await stored.order.position(a!)).toBe('head')

    const published: DeliveryTask[] = []
    await stored.order.release(a!, async (next) => {
      published.push(next)
    })
    expect(published).toEqual([b])
    expect(await stored.order.position(a!)).toBe('absent')

    // Handed the turn, the next one may go (and finish) before the head that handed it over is removed.
    const d = task(tenant, sub, 'e7', 'store-3')
    const e = task(tenant, sub, 'e8', 'store-3')
    const f = task(tenant, sub, 'e9', 'store-3')
    for (const each of [d, e, f]) await stored.order.enqueue(each)
    const handed: string[] = []
    await stored.order.release(d, async (next) => {
      handed.push(next.eventId)
      expect(await stored.order.position(e)).toBe('head')
      expect(await stored.order.position(f)).toBe('queued')
      // e is delivered at once and released while d's release is still publishing.
      await stored.order.release(e, async (after) => {
        handed.push(after.eventId)
      })
    })
    expect(handed).toEqual(['e8', 'e9'])
    expect(await stored.order.position(d)).toBe('absent')
    expect(await stored.order.position(e)).toBe('absent')
    expect(await stored.order.position(f)).toBe('head')
    expect(await stored.order.position(b!)).toBe('head')
    // Releasing what is not the head (a late copy) changes nothing.
    await stored.order.release(a!, async () => {
      throw new Error('not called')
    })
    await stored.order.release(c!, async () => {
      throw new Error('not called')
    })
    expect(await stored.order.position(b!)).toBe('head')

    await stored.order.release(b!, async (next) => {
      published.push(next)
    })
    await stored.order.release(c!, async (next) => {
      published.push(next)
    })
    expect(published.map((t) => t.eventId)).toEqual(['e2', 'e3'])
    expect(await stored.order.position(c!)).toBe('absent')
    // Empty again: the next delivery is the head at once.
    expect((await stored.order.enqueue(task(tenant, sub, 'e6'))).position).toBe('head')
  })
})

describe('flow budgets', () => {
  it('grants at most the limit across reservations, holds long only far from it, says when the budget frees, and takes refunds', async () => {
    const tenant = tenantId('pace')
    const sub = subscriptionId()
    const now = Date.now()
    const request = { limit: 16, windowMs: 1_000, holdMs: 100, longHoldMs: 1_000 }
    // A quarter of the budget or less in use: spent for a whole window (and counted for two).
    expect(await stored.budgets.reserve(tenant, sub, { ...request, want: 4, id: 'r1' }, now)).toEqual({ granted: 4, holdMs: 1_000 })
    expect(await stored.budgets.reserve(tenant, sub, { ...request, want: 8, id: 'r2' }, now + 10)).toEqual({ granted: 8, holdMs: 100 })
    expect(await stored.budgets.reserve(tenant, sub, { ...request, want: 8, id: 'r3' }, now + 20)).toEqual({ granted: 4, holdMs: 100 })
    expect(await stored.budgets.reserve(tenant, sub, { ...request, want: 1, id: 'r4' }, now + 30)).toEqual({ granted: 0, holdMs: 0, freesAt: now + 10 + 1_100 })
    // r2 used one of its eight: seven come back.
    expect(await stored.budgets.reserve(tenant, sub, { ...request, want: 8, id: 'r5', refund: { id: 'r2', granted: 8, unused: 7 } }, now + 40)).toEqual({ granted: 7, holdMs: 100 })
    // Once r2 and r3 stop counting, r1 (counted for two windows) and r5 are left: 5 free.
    expect(await stored.budgets.reserve(tenant, sub, { ...request, want: 8, id: 'r6' }, now + 1_125)).toEqual({ granted: 5, holdMs: 100 })
  })

  it('pauses a subscription on every reader until the later of two pauses, and tells every watcher', async () => {
    const tenant = tenantId('pace')
    const sub = subscriptionId()
    const heard: Array<{ tenantId: string; subscriptionId: string; untilMs: number }> = []
    const watch = stored.budgets.watchPauses((pause) => heard.push(pause))
    try {
      await new Promise((resolve) => setTimeout(resolve, 200))
      const now = Date.now()
      await stored.budgets.pause(tenant, sub, now + 3_000, now)
      await stored.budgets.pause(tenant, sub, now + 1_000, now)
      const request = { want: 1, limit: 10, windowMs: 1_000, holdMs: 100, longHoldMs: 1_000 }
      expect(await stored.budgets.reserve(tenant, sub, { ...request, id: 'r1' }, now + 500)).toEqual({ granted: 0, holdMs: 0, pausedUntil: now + 3_000 })
      expect(await stored.budgets.reserve(tenant, sub, { ...request, id: 'r2' }, now + 3_001)).toEqual({ granted: 1, holdMs: 1_000 })
      await waitFor(() => heard.length > 0, { what: 'the pause signal' })
      expect(heard).toEqual([{ tenantId: tenant, subscriptionId: sub, untilMs: now + 3_000 }])
    } finally {
      await watch.close()
    }
  })
})
