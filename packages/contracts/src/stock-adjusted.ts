import { Type, type Static } from '@sinclair/typebox'
import { limits, Sku, StoreId } from './goods-received.js'
import './formats.js'
import { designerSummary, eventFields } from './notification.js'

/** Stock written off or found at a store. Versioned like every event type. */
export const STOCK_ADJUSTED = 'inventory.stock-adjusted.v1'

/** Why the stock changed; a flow branches on it, so the list is closed (a new reason is additive). */
export const adjustmentReasons = ['damaged', 'expired', 'stock-count', 'theft', 'other'] as const
export type AdjustmentReason = (typeof adjustmentReasons)[number]

export const AdjustmentReason = Type.Union(adjustmentReasons.map((reason) => Type.Literal(reason)), {
  description: 'Why the stock changed: damaged, expired, stock-count, theft or other.',
})

export const noteLength = 500

export const StockAdjustmentItem = Type.Object({
  sku: Sku,
  name: Type.Optional(Type.String({ minLength: 1, maxLength: limits.nameLength, description: 'Product name.' })),
  quantityDelta: Type.Integer({
    minimum: -limits.maxQuantity,
    maximum: limits.maxQuantity,
    description: 'How many units the stock changed by: negative when stock was written off, positive when found; never 0.',
  }),
  unit: Type.Optional(Type.String({ minLength: 1, maxLength: limits.unitLength, description: 'Unit of measure, e.g. "case" or "kg".' })),
})
export type StockAdjustmentItem = Static<typeof StockAdjustmentItem>

export const StockAdjustedData = Type.Object({
  adjustmentId: Type.String({ minLength: 1, maxLength: limits.idLength, description: 'Identifier of the stock adjustment.' }),
  storeId: StoreId,
  storeName: Type.String({ minLength: 1, maxLength: limits.nameLength, description: 'Display name of the store.' }),
  reason: AdjustmentReason,
  note: Type.Optional(Type.String({ maxLength: noteLength, description: 'Free text from whoever recorded the adjustment.' })),
  adjustedAt: Type.String({ format: 'date-time', description: 'When the stock was adjusted (RFC 3339).' }),
  items: Type.Array(StockAdjustmentItem, { minItems: 1, maxItems: limits.maxItems }),
  netQuantityDelta: Type.Integer({ description: 'Sum of the items\' quantity deltas (may be 0 when they cancel out).' }),
})
export type StockAdjustedData = Static<typeof StockAdjustedData>

/** The first item whose delta is 0, which JSON Schema in TypeBox's compiler cannot express cheaply. */
export function zeroDeltaItem(items: readonly { quantityDelta: number }[]): number | undefined {
  const index = items.findIndex((item) => item.quantityDelta === 0)
  return index === -1 ? undefined : index
}

export function netQuantityDelta(items: readonly { quantityDelta: number }[]): number {
  let total = 0
  for (const item of items) total += item.quantityDelta
  return total
}

/**
 * What a flow on "When stock is adjusted at a store" receives: one flat object. Optional strings of
 * the event (note, an item's name and unit) arrive as "" so a flow's expressions never meet null.
 */
export const StockAdjustedNotification = Type.Object({
  ...eventFields(STOCK_ADJUSTED),
  adjustmentId: Type.String({ ...designerSummary('Adjustment ID'), description: StockAdjustedData.properties.adjustmentId.description }),
  storeId: Type.String({ ...designerSummary('Store ID'), description: StoreId.description }),
  storeName: Type.String({ ...designerSummary('Store name'), description: StockAdjustedData.properties.storeName.description }),
  reason: Type.String({ ...designerSummary('Reason'), enum: [...adjustmentReasons], description: AdjustmentReason.description }),
  note: Type.String({ ...designerSummary('Note'), description: 'Free text from whoever recorded the adjustment; empty when there is none.' }),
  adjustedAt: Type.String({ ...designerSummary('Adjusted at'), format: 'date-time', description: StockAdjustedData.properties.adjustedAt.description }),
  items: Type.Array(
    Type.Object({
      sku: Type.String({ ...designerSummary('SKU'), description: Sku.description }),
      name: Type.String({ ...designerSummary('Product name'), description: 'Product name; empty when not given.' }),
      quantityDelta: Type.Integer({ ...designerSummary('Quantity change'), description: StockAdjustmentItem.properties.quantityDelta.description }),
      unit: Type.String({ ...designerSummary('Unit'), description: 'Unit of measure; empty when not given.' }),
    }),
    { ...designerSummary('Items'), description: 'The stock that changed.' },
  ),
  netQuantityDelta: Type.Integer({ ...designerSummary('Net quantity change'), description: StockAdjustedData.properties.netQuantityDelta.description }),
}, { title: 'Stock adjusted', description: 'Stock was adjusted at a store.' })
export type StockAdjustedNotification = Static<typeof StockAdjustedNotification>
