import { Type, type Static } from '@sinclair/typebox'
import { GoodsReceivedData, GoodsReceivedItem, limits } from '@arrivals/contracts'
import { Accepted, CallerId, recordingRoute, EventTime, StoreName } from './recording.js'

// The request reuses the contract's field schemas, so everything the HTTP layer accepts is a valid
// event; unknown fields are refused (additionalProperties: false) instead of silently dropped.
export const ReceiptItem = Type.Object(GoodsReceivedItem.properties, { additionalProperties: false })

export const ReceiptBody = Type.Object({
  receiptId: CallerId('goods receipt', 'rcpt'),
  supplier: GoodsReceivedData.properties.supplier,
  items: Type.Array(ReceiptItem, { minItems: 1, maxItems: limits.maxItems, description: `1 to ${limits.maxItems} received lines.` }),
  receivedAt: EventTime('the goods were received'),
  storeName: StoreName,
}, { additionalProperties: false })
export type ReceiptBody = Static<typeof ReceiptBody>

export const ReceiptAccepted = Accepted('GoodsReceived', 'receiptId', 'rcpt')
export type ReceiptAccepted = Static<typeof ReceiptAccepted>

export const ReceiptRoute = recordingRoute('recordGoodsReceipt', 'receipts', { body: ReceiptBody, accepted: ReceiptAccepted }, {
  summary: 'Record a goods receipt and publish GoodsReceived',
  description: 'A store the catalogue does not know is registered (named storeName, else its id).',
})
