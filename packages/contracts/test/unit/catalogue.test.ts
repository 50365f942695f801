import { TypeCompiler } from '@sinclair/typebox/compiler'
import { describe, expect, it } from 'vitest'
import {
  catalogue, catalogueEntry, goodsReceived, goodsReceivedEvent, matchesFilters, netQuantityDelta, parseEvent, stockAdjusted,
  stockAdjustedEvent, validateEvent, type StockAdjustedData,
} from '../../src/index.js'
import { sampleData } from '../fixtures.js'

function adjustment(overrides: Partial<StockAdjustedData> = {}): StockAdjustedData {
  const items = overrides.items ?? [{ sku: 'APL-001', name: 'Apples', quantityDelta: -3, unit: 'case' }, { sku: 'PEAR-9', quantityDelta: 1 }]
  return {
    adjustmentId: 'adj-1', storeId: 'store-042', storeName: 'Amsterdam Centraal', reason: 'damaged',
    adjustedAt: '2026-11-29T08:00:00.000Z', netQuantityDelta: netQuantityDelta(items), ...overrides, items,
  }
}

describe('event catalogue', () => {
  it('has one entry per type, each with its own trigger path and operation', () => {
    expect(catalogue.map((entry) => entry.type)).toEqual(['inventory.goods-received.v1', 'inventory.stock-adjusted.v1'])
    expect(new Set(catalogue.map((entry) => entry.trigger.path)).size).toBe(catalogue.length)
    expect(new Set(catalogue.map((entry) => entry.trigger.operationId)).size).toBe(catalogue.length)
    expect(catalogueEntry('inventory.goods-lost.v1')).toBeUndefined()
    expect(catalogueEntry(42)).toBeUndefined()
  })

  it('validates a stock adjustment and refuses what a producer must fix, naming the field', () => {
    const event = stockAdjustedEvent({ tenantId: 'contoso', source: '/inventory', data: adjustment() })
    expect(event.time).toBe('2026-11-29T08:00:00.000Z')
    expect(validateEvent(event)).toEqual({ ok: true, event })
    const refused = (data: unknown) => {
      const result = parseEvent(JSON.stringify({ ...event, data }))
      return result.ok ? 'accepted' : result.reason
    }
    expect(refused(adjustment({ items: [{ sku: 'a', quantityDelta: 0 }] }))).toContain('/data/items/0/quantityDelta: must not be 0')
    expect(refused({ ...adjustment(), items: [{ sku: 'a', quantityDelta: 1.5 }] })).toContain('/data/items/0/quantityDelta')
    expect(refused({ ...adjustment(), reason: 'lost' })).toContain('/data/reason')
    expect(refused({ ...adjustment(), items: [] })).toContain('/data/items')
  })

  it('turns each event into the flat notification its schema describes', () => {
    for (const [entry, event] of [
      [goodsReceived, goodsReceivedEvent({ tenantId: 't', source: 's', data: sampleData() })],
      [stockAdjusted, stockAdjustedEvent({ tenantId: 't', source: 's', data: adjustment() })],
    ] as const) {
      const notification = entry.toNotification(event as never)
      expect(TypeCompiler.Compile(entry.notification).Check(notification)).toBe(true)
      expect(Object.keys(notification).sort()).toEqual(Object.keys(entry.notification.properties).sort())
    }
    const note = stockAdjusted.toNotification(stockAdjustedEvent({ tenantId: 't', source: 's', data: adjustment() }))
    expect(note).toMatchObject({ reason: 'damaged', note: '', netQuantityDelta: -2, items: [{ sku: 'APL-001' }, { sku: 'PEAR-9', name: '', unit: '' }] })
  })

  it('matches filters as documented: store exactly, any item with the SKU, minimum total, the reason', () => {
    const received = sampleData() as unknown as Record<string, unknown>
    const adjusted = adjustment() as unknown as Record<string, unknown>
    expect(matchesFilters(goodsReceived, {}, received)).toBe(true)
    expect(matchesFilters(goodsReceived, { storeId: 'store-042', sku: 'BAN-002' }, received)).toBe(true)
    expect(matchesFilters(goodsReceived, { storeId: 'store-043' }, received)).toBe(false)
    expect(matchesFilters(goodsReceived, { sku: 'NOPE' }, received)).toBe(false)
    expect(matchesFilters(goodsReceived, { minQuantity: sampleData().totalQuantity }, received)).toBe(true)
    expect(matchesFilters(goodsReceived, { minQuantity: sampleData().totalQuantity + 1 }, received)).toBe(false)
    expect(matchesFilters(stockAdjusted, { reason: 'damaged', sku: 'PEAR-9' }, adjusted)).toBe(true)
    expect(matchesFilters(stockAdjusted, { reason: 'theft' }, adjusted)).toBe(false)
  })

  it('makes test notifications that pass the subscription\'s own filters and the notification schema', () => {
    const at = '2026-11-29T09:00:00.000Z'
    const ids = { eventId: 'test-1', objectId: 'test-obj' }
    const cases = [
      [goodsReceived, { storeId: 's-1', sku: 'X', minQuantity: 40 }],
      [stockAdjusted, { storeId: 's-1', sku: 'X', reason: 'expired' }],
      [stockAdjusted, {}],
    ] as const
    for (const [entry, filters] of cases) {
      const sample = entry.sample(filters, at, ids) as Record<string, unknown>
      expect(TypeCompiler.Compile(entry.notification).Check(sample)).toBe(true)
      // The notification's fields carry the data's names, so the filters read it as they read the data.
      expect(matchesFilters(entry, filters, sample)).toBe(true)
    }
  })
})
