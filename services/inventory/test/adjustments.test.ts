import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { STOCK_ADJUSTED, validateEvent } from '@arrivals/contracts'
import { createNamespace } from '@arrivals/test-kit'
import { adjustment, build, EventQueue, postAdjustment, postReceipt, receipt, tenant, testSettings } from './support.js'

const ns = createNamespace('inventory-adjustments')
const contoso = tenant('contoso')
let app: FastifyInstance
let queue: EventQueue

beforeAll(async () => {
  queue = await EventQueue.open(ns)
  app = await build(testSettings(ns, [contoso], { rateLimitPerMinute: 200 }))
})
afterAll(async () => {
  await app?.close()
  await queue?.close()
  await ns.cleanup()
})
beforeEach(async () => {
  await queue.drain()
})

async function onlyEvent() {
  const events = await queue.anyEvents()
  expect(events).toHaveLength(1)
  return events[0]!
}

describe('POST /v1/stores/{storeId}/adjustments', () => {
  it('publishes one StockAdjusted that validates against the contract, with netQuantityDelta derived', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const put = await app.inject({ method: 'PUT', url: '/v1/stores/store-1', headers: { 'x-api-key': contoso.apiKey }, payload: { name: 'Amsterdam Centraal' } })
    expect(put.statusCode).toBeLessThan(300)
    const response = await postAdjustment(app, contoso, 'store-1', adjustment({ adjustmentId: 'ADJ-7' }), { traceparent })
    expect(response.statusCode, response.body).toBe(202)
    expect(response.json()).toEqual({ eventId: expect.any(String), adjustmentId: 'ADJ-7' })

    const { event, message } = await onlyEvent()
    expect(validateEvent(event)).toMatchObject({ ok: true })
    expect(event.id).toBe(response.json().eventId)
    expect(event.type).toBe(STOCK_ADJUSTED)
    expect(event.tenantid).toBe(contoso.id)
    expect(event.time).toBe('2026-03-02T14:00:00.000Z')
    expect(event.data).toEqual({
      adjustmentId: 'ADJ-7',
      storeId: 'store-1',
      storeName: 'Amsterdam Centraal',
      reason: 'damaged',
      note: 'Pallet dropped at the dock',
      adjustedAt: '2026-03-02T14:00:00.000Z',
      items: [
        { sku: 'SKU-1', name: 'Oat milk 1 l', quantityDelta: -4, unit: 'case' },
        { sku: 'SKU-3', quantityDelta: 1 },
      ],
      netQuantityDelta: -3,
    })
    expect(message.fields.routingKey).toBe(STOCK_ADJUSTED)
    expect(message.properties.headers?.traceparent).toBe(traceparent)
  })

  it('fills adjustmentId and adjustedAt, and registers an unknown store under its id', async () => {
    const before = Date.now()
    const response = await postAdjustment(app, contoso, 'store-adj-new', adjustment({ adjustedAt: undefined, note: undefined, reason: 'stock-count' }))
    expect(response.statusCode, response.body).toBe(202)
    const { event } = await onlyEvent()
    expect(event.data).toMatchObject({ adjustmentId: response.json().adjustmentId, storeName: 'store-adj-new', reason: 'stock-count' })
    expect(response.json().adjustmentId).toMatch(/^adj_/)
    expect(event.data).not.toHaveProperty('note')
    expect(Date.parse(event.time)).toBeGreaterThanOrEqual(before - 1)
    const store = await app.inject({ method: 'GET', url: '/v1/stores/store-adj-new', headers: { 'x-api-key': contoso.apiKey } })
    expect(store.json()).toMatchObject({ storeId: 'store-adj-new', name: 'store-adj-new' })
  })
})

describe('Idempotency-Key on adjustments', () => {
  it('replays the first 202 for the same key and body, and publishes one event', async () => {
    const key = randomUUID()
    const first = await postAdjustment(app, contoso, 'store-1', adjustment(), { 'idempotency-key': key })
    expect(first.statusCode, first.body).toBe(202)
    const second = await postAdjustment(app, contoso, 'store-1', adjustment(), { 'idempotency-key': key })
    expect(second.statusCode).toBe(202)
    expect(second.headers['idempotent-replayed']).toBe('true')
    expect(second.json()).toEqual(first.json())
    expect((await queue.anyEvents()).map(({ event }) => event.id)).toEqual([first.json().eventId])
  })

  it('refuses the same key with another adjustment, or for a receipt (422), and publishes nothing for it', async () => {
    const key = randomUUID()
    expect((await postAdjustment(app, contoso, 'store-1', adjustment(), { 'idempotency-key': key })).statusCode).toBe(202)
    await queue.drain()
    const changed = await postAdjustment(app, contoso, 'store-1', adjustment({ reason: 'theft' }), { 'idempotency-key': key })
    expect(changed.statusCode).toBe(422)
    expect(changed.json().message).toMatch(/use a new key for a different adjustment/)
    const asReceipt = await postReceipt(app, contoso, 'store-1', receipt(), { 'idempotency-key': key })
    expect(asReceipt.statusCode).toBe(422)
    expect(await queue.count()).toBe(0)
  })

  it('frees the key when the adjustment was refused (a delta of 0)', async () => {
    const key = randomUUID()
    const refused = await postAdjustment(app, contoso, 'store-1', adjustment({ items: [{ sku: 'SKU-1', quantityDelta: 0 }] }), { 'idempotency-key': key })
    expect(refused.statusCode).toBe(400)
    const accepted = await postAdjustment(app, contoso, 'store-1', adjustment(), { 'idempotency-key': key })
    expect(accepted.statusCode).toBe(202)
    expect((await onlyEvent()).event.id).toBe(accepted.json().eventId)
  })
})

describe('bad adjustments: a 400 that names the body field and says what to fix, and nothing published', () => {
  const item = { sku: 'SKU-1', quantityDelta: -1 }
  const cases: { name: string; body: unknown; message: RegExp }[] = [
    { name: 'quantityDelta 0', body: adjustment({ items: [item, { ...item, quantityDelta: 0 }] }), message: /^body\/items\/1\/quantityDelta must not be 0/ },
    { name: 'fractional quantityDelta', body: adjustment({ items: [{ ...item, quantityDelta: -1.5 }] }), message: /^body\/items\/0\/quantityDelta must be integer/ },
    { name: 'quantityDelta as a string', body: adjustment({ items: [{ ...item, quantityDelta: '-1' }] }), message: /^body\/items\/0\/quantityDelta must be integer/ },
    { name: 'an unknown reason', body: adjustment({ reason: 'lost' }), message: /^body\/reason must be one of "damaged", "expired", "stock-count", "theft", "other"/ },
    { name: 'no reason', body: adjustment({ reason: undefined }), message: /must have the property "reason"/ },
    { name: 'no items', body: adjustment({ items: [] }), message: /^body\/items must NOT have fewer than 1 items/ },
    { name: 'items missing', body: adjustment({ items: undefined }), message: /must have the property "items"/ },
    { name: 'a receipt\'s quantity', body: adjustment({ items: [{ sku: 'SKU-1', quantity: 2 }] }), message: /items\/0 must have the property "quantityDelta"/ },
    { name: 'an unknown field', body: adjustment({ supplier: 'Northwind' }), message: /unknown property "supplier"/ },
    { name: 'an over-long note', body: adjustment({ note: 'x'.repeat(501) }), message: /^body\/note must NOT have more than 500 characters/ },
    { name: 'adjustedAt without a time zone', body: adjustment({ adjustedAt: '2026-03-01T09:30:00' }), message: /adjustedAt must match/ },
  ]
  for (const { name, body, message } of cases) {
    it(`${name} → 400`, async () => {
      const response = await postAdjustment(app, contoso, 'store-1', body)
      expect(response.statusCode, response.body).toBe(400)
      expect(response.json().message).toMatch(message)
      expect(response.json().message).not.toMatch(/\/data\//)
      expect(await queue.count()).toBe(0)
    })
  }

  it('a missing API key → 401', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/stores/store-1/adjustments', headers: { 'content-type': 'application/json' }, payload: adjustment() })
    expect(response.statusCode).toBe(401)
    expect(await queue.count()).toBe(0)
  })

  it('documents the route and its errors', async () => {
    const post = (await app.inject({ method: 'GET', url: '/docs/json' })).json().paths['/v1/stores/{storeId}/adjustments'].post
    expect(post.operationId).toBe('recordStockAdjustment')
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '409', '413', '415', '422', '429', '503']))
  })
})
