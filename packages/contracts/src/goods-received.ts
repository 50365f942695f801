import { Type, type Static } from '@sinclair/typebox'
import './formats.js'

/** The one event type this release carries. Versioned: a breaking change is a new `.v2` type. */
export const GOODS_RECEIVED = 'inventory.goods-received.v1'

/** Limits every producer and consumer agrees on; each string has a documented maximum. */
export const limits = {
  idLength: 64,
  nameLength: 200,
  unitLength: 32,
  maxItems: 500,
  maxQuantity: 1_000_000_000,
} as const

export const StoreId = Type.String({
  pattern: '^[A-Za-z0-9_-]{1,64}$',
  minLength: 1,
  maxLength: limits.idLength,
  description: 'Store identifier: 1 to 64 letters, digits, "-" or "_".',
})

export const TenantId = Type.String({
  pattern: '^[A-Za-z0-9_-]{1,64}$',
  minLength: 1,
  maxLength: limits.idLength,
  description: 'The retailer (tenant) the data belongs to.',
})

export const Sku = Type.String({ minLength: 1, maxLength: limits.idLength, description: 'Stock keeping unit.' })

export const GoodsReceivedItem = Type.Object({
  sku: Sku,
  name: Type.String({ minLength: 1, maxLength: limits.nameLength, description: 'Product name.' }),
  quantity: Type.Integer({ minimum: 1, maximum: limits.maxQuantity, description: 'How many units arrived (a whole number above 0).' }),
  unit: Type.String({ minLength: 1, maxLength: limits.unitLength, description: 'Unit of measure, e.g. "case" or "kg".' }),
})
export type GoodsReceivedItem = Static<typeof GoodsReceivedItem>

export const GoodsReceivedData = Type.Object({
  receiptId: Type.String({ minLength: 1, maxLength: limits.idLength, description: 'Identifier of the goods receipt.' }),
  storeId: StoreId,
  storeName: Type.String({ minLength: 1, maxLength: limits.nameLength, description: 'Display name of the store.' }),
  supplier: Type.String({ minLength: 1, maxLength: limits.nameLength, description: 'Who delivered the goods.' }),
  receivedAt: Type.String({ format: 'date-time', description: 'When the goods were received (RFC 3339).' }),
  items: Type.Array(GoodsReceivedItem, { minItems: 1, maxItems: limits.maxItems }),
  totalQuantity: Type.Integer({ minimum: 1, description: 'Sum of the items\' quantities.' }),
})
export type GoodsReceivedData = Static<typeof GoodsReceivedData>

export function totalQuantity(items: readonly { quantity: number }[]): number {
  let total = 0
  for (const item of items) total += item.quantity
  return total
}
