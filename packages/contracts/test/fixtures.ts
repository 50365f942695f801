import { totalQuantity, type GoodsReceivedData } from '../src/index.js'

export function sampleData(overrides: Partial<GoodsReceivedData> = {}): GoodsReceivedData {
  const items = overrides.items ?? [{ sku: 'APL-001', name: 'Apples', quantity: 12, unit: 'case' }, { sku: 'BAN-002', name: 'Bananas', quantity: 3, unit: 'box' }]
  return {
    receiptId: 'rcpt-1', storeId: 'store-042', storeName: 'Amsterdam Centraal', supplier: 'Fresh Farms',
    receivedAt: '2026-11-25T08:30:00.000Z', items, totalQuantity: totalQuantity(items), ...overrides,
  }
}
