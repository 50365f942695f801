import { Type, type Static } from '@sinclair/typebox'
import { adjustmentReasons, limits, type AdjustmentReason, StockAdjustedData, StockAdjustmentItem } from '@arrivals/contracts'
import { Accepted, CallerId, EventTime, recordingRoute } from './recording.js'

export const AdjustmentAccepted = Accepted('StockAdjusted', 'adjustmentId', 'adj')
export type AdjustmentAccepted = Static<typeof AdjustmentAccepted>

// As for receipts: the contract's field schemas, unknown fields refused.
export const AdjustmentItem = Type.Object(StockAdjustmentItem.properties, { additionalProperties: false })

export const AdjustmentBody = Type.Object({
  adjustmentId: CallerId('stock adjustment', 'adj'),
  // A plain enum rather than the contract's union of literals: one error that lists the reasons,
  // instead of one complaint per reason.
  reason: Type.Unsafe<AdjustmentReason>(Type.String({ enum: [...adjustmentReasons], description: `Why the stock changed: ${adjustmentReasons.join(', ')}.` })),
  note: StockAdjustedData.properties.note,
  adjustedAt: EventTime('the stock was adjusted'),
  items: Type.Array(AdjustmentItem, { minItems: 1, maxItems: limits.maxItems, description: `1 to ${limits.maxItems} adjusted lines; a quantityDelta is never 0.` }),
}, { additionalProperties: false })
export type AdjustmentBody = Static<typeof AdjustmentBody>

export const AdjustmentRoute = recordingRoute('recordStockAdjustment', 'adjustments', { body: AdjustmentBody, accepted: AdjustmentAccepted }, {
  summary: 'Record a stock adjustment and publish StockAdjusted',
  description: 'Stock written off (damaged, expired, theft, a count that found less) or found. A store the catalogue does not know is registered under its id.',
})
