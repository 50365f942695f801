import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  GoodsReceivedEvent, createSecretBox, deliveryIdFor, goodsReceivedEvent, parseEvent, redactUrl, retryLabel,
  toNotification, validateEvent,
} from '../src/index.js'
import { sampleData } from './fixtures.js'

describe('GoodsReceived event', () => {
  it('builds a CloudEvent that validates, with the tenant set', () => {
    const event = goodsReceivedEvent({ tenantId: 'contoso', source: '/inventory', data: sampleData() })
    expect(event).toMatchObject({ specversion: '1.0', type: 'inventory.goods-received.v1', tenantid: 'contoso', time: '2026-11-25T08:30:00.000Z' })
    expect(validateEvent(event)).toEqual({ ok: true, event })
  })

  it.each([
    ['not json', '{', 'not valid JSON'],
    ['an array', '[]', 'not a JSON object'],
    ['an unknown type', JSON.stringify({ type: 'inventory.goods-lost.v1' }), 'unknown event type'],
    ['a quantity of 0', JSON.stringify(goodsReceivedEvent({ tenantId: 't', source: 's', data: sampleData({ items: [{ sku: 'a', name: 'b', quantity: 0, unit: 'c' }] }) })), '/data/items/0/quantity'],
    ['a bad store id', JSON.stringify(goodsReceivedEvent({ tenantId: 't', source: 's', data: sampleData({ storeId: '../etc' }) })), '/data/storeId'],
  ])('refuses %s with a reason', (_name, body, reason) => {
    const result = parseEvent(body)
    expect(result.ok).toBe(false)
    expect(!result.ok && result.reason).toContain(reason)
  })

  it('accepts unknown attributes, because contracts change additively', () => {
    const event = { ...goodsReceivedEvent({ tenantId: 't', source: 's', data: sampleData() }), newattribute: 'x' }
    expect(validateEvent(event).ok).toBe(true)
  })
})

describe('notification', () => {
  it('is the flat object a flow receives', () => {
    const event = goodsReceivedEvent({ tenantId: 'contoso', source: '/inventory', data: sampleData() })
    const notification = toNotification(event)
    expect(notification).toEqual({
      eventId: event.id, eventType: 'inventory.goods-received.v1', occurredAt: event.time,
      receiptId: 'rcpt-1', storeId: 'store-042', storeName: 'Amsterdam Centraal', supplier: 'Fresh Farms',
      receivedAt: event.data.receivedAt, items: event.data.items, totalQuantity: 15,
    })
  })
})

describe('delivery ids, retry labels, secret box', () => {
  it('derives a stable webhook-id per event and subscription', () => {
    expect(deliveryIdFor('e1', 's1')).toBe(deliveryIdFor('e1', 's1'))
    expect(deliveryIdFor('e1', 's1')).not.toBe(deliveryIdFor('e1', 's2'))
    expect(deliveryIdFor('e1', 's1')).toMatch(/^msg_[A-Za-z0-9_-]+$/)
  })

  it('labels retry tiers for humans', () => {
    expect([5_000, 120_000, 3_600_000, 86_400_000, 1_500].map(retryLabel)).toEqual(['5s', '2m', '1h', '1d', '1500ms'])
    expect(() => retryLabel(0)).toThrow(RangeError)
  })

  it('seals secrets bound to their record and redacts URLs', () => {
    const box = createSecretBox(randomBytes(32))
    const sealed = box.seal('https://flow.example.com/hook?sig=SECRET', 'contoso/sub_1')
    expect(sealed).not.toContain('SECRET')
    expect(box.open(sealed, 'contoso/sub_1')).toBe('https://flow.example.com/hook?sig=SECRET')
    expect(() => box.open(sealed, 'fabrikam/sub_1')).toThrow()
    expect(redactUrl('https://flow.example.com/hook?sig=SECRET')).toBe('https://flow.example.com/hook')
  })
})

describe('schema exports', () => {
  it('exports the TypeBox schema with its static type', () => {
    expect(GoodsReceivedEvent.properties.data.required).toContain('totalQuantity')
  })
})
