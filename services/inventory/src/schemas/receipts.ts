import { Type, type Static } from '@sinclair/typebox'
import { GoodsReceivedData, GoodsReceivedItem, limits } from '@arrivals/contracts'

// The request reuses the contract's field schemas, so everything the HTTP layer accepts is a valid
// event; unknown fields are refused (additionalProperties: false) instead of silently dropped.
export const ReceiptItem = Type.Object(GoodsReceivedItem.properties, { additionalProperties: false })

const RECEIVED_AT_MAX_LENGTH = 35

export const ReceiptBody = Type.Object({
  receiptId: Type.Optional(Type.String({
    minLength: 1,
    maxLength: limits.idLength,
    pattern: '^[A-Za-z0-9_.:-]+$',
    description: 'Your identifier of the goods receipt (letters, digits, "_", ".", ":", "-"); generated when absent.',
  })),
  supplier: GoodsReceivedData.properties.supplier,
  items: Type.Array(ReceiptItem, { minItems: 1, maxItems: limits.maxItems, description: `1 to ${limits.maxItems} received lines.` }),
  receivedAt: Type.Optional(Type.String({
    format: 'date-time',
    // 2026-03-01T09:30:00.123456789+01:00: nanoseconds and an offset, the longest sensible time.
    maxLength: RECEIVED_AT_MAX_LENGTH,
    // The contract's shape: a "T" between date and time, and a time zone.
    pattern: '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$',
    description: `When the goods were received (RFC 3339 with a time zone, e.g. 2026-03-01T09:30:00Z, at most ${RECEIVED_AT_MAX_LENGTH} characters); defaults to now.`,
  })),
  storeName: Type.Optional(Type.String({
    minLength: 1,
    maxLength: limits.nameLength,
    description: 'The store\'s name in this event, and the name an unknown store is registered with (else its id). A known store keeps its catalogue name.',
  })),
}, { additionalProperties: false })
export type ReceiptBody = Static<typeof ReceiptBody>

const IDEMPOTENCY_KEY_PATTERN = '^[A-Za-z0-9_.:-]{1,128}$'

export const ReceiptHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({
    pattern: IDEMPOTENCY_KEY_PATTERN,
    maxLength: 128,
    description: 'Makes a retry safe: the same key and body answer the first 202 again and publish nothing; the same key with a different body is refused (422). 1 to 128 of letters, digits, "_", ".", ":", "-" (a UUID fits). Kept 24 h.',
  })),
  // No maxLength on purpose: an invalid traceparent is ignored (W3C), never refused; only a valid
  // one (55 characters) is kept. Node's 16 KB header limit bounds it (431).
  traceparent: Type.Optional(Type.String({ description: 'W3C trace context (55 characters); travels with the event to the flow\'s webhook. Anything but a valid traceparent is ignored.' })),
})

export const ReceiptAccepted = Type.Object({
  eventId: Type.String({ maxLength: 128, description: 'The CloudEvents id of the published GoodsReceived event (the webhook carries it as eventId).' }),
  receiptId: Type.String({ maxLength: limits.idLength, description: 'Yours if you sent one, else generated (rcpt_…).' }),
}, { description: 'The broker confirmed the event: it will reach every matching flow.' })
export type ReceiptAccepted = Static<typeof ReceiptAccepted>
