import { randomUUID } from 'node:crypto'
import { parseBoundedJson } from './bounded-json.js'
import { catalogueEntry, eventCheck, eventTypes } from './catalogue.js'
import type { ArrivalsEvent, GoodsReceivedEvent, StockAdjustedEvent } from './event-schemas.js'
import { GOODS_RECEIVED, type GoodsReceivedData } from './goods-received.js'
import { STOCK_ADJUSTED, type StockAdjustedData } from './stock-adjusted.js'

export * from './event-schemas.js'

/** Every event type Arrivals can deliver to a flow (the catalogue's), and so every routing key the dispatcher binds. */
export const deliverableEventTypes = eventTypes

export type EventValidation =
  | { ok: true; event: ArrivalsEvent }
  | { ok: false; reason: string }

/**
 * Validates anything that claims to be an Arrivals event against its catalogue entry. The reason
 * names the first problem, so a dead letter says what the producer must fix.
 */
export function validateEvent(candidate: unknown): EventValidation {
  if (typeof candidate !== 'object' || candidate === null || Array.isArray(candidate)) {
    return { ok: false, reason: 'event is not a JSON object' }
  }
  const type = (candidate as { type?: unknown }).type
  const entry = catalogueEntry(type)
  if (!entry) {
    return { ok: false, reason: `unknown event type ${JSON.stringify(type)}; known: ${deliverableEventTypes.join(', ')}` }
  }
  const check = eventCheck(entry)
  if (!check.Check(candidate)) {
    const first = check.Errors(candidate).First()
    return { ok: false, reason: `invalid ${entry.type} at ${first?.path || '/'}: ${first?.message ?? 'does not match the schema'}` }
  }
  const event = candidate as ArrivalsEvent
  const problem = entry.refine?.(event.data)
  if (problem) return { ok: false, reason: `invalid ${entry.type} at /data${problem.path}: ${problem.message}` }
  return { ok: true, event }
}

/** Parses a broker message body (within `brokerMessageLimits`) and validates it in one step. */
export function parseEvent(body: Buffer | string): EventValidation {
  const parsed = parseBoundedJson(body, 'message body')
  return parsed.ok ? validateEvent(parsed.value) : parsed
}

export interface EventInput<Data> {
  tenantId: string
  source: string
  data: Data
  id?: string
  traceparent?: string
}

interface Envelope<Type extends string, Data> {
  specversion: '1.0'
  id: string
  source: string
  type: Type
  time: string
  datacontenttype: 'application/json'
  subject: string
  tenantid: string
  data: Data
  traceparent?: string
}

function envelope<Type extends string, Data extends { storeId: string }>(type: Type, time: string, input: EventInput<Data>): Envelope<Type, Data> {
  const event: Envelope<Type, Data> = {
    specversion: '1.0',
    id: input.id ?? randomUUID(),
    source: input.source,
    type,
    time,
    datacontenttype: 'application/json',
    subject: input.data.storeId,
    tenantid: input.tenantId,
    data: input.data,
  }
  if (input.traceparent) event.traceparent = input.traceparent
  return event
}

export type GoodsReceivedInput = EventInput<GoodsReceivedData>

export function goodsReceivedEvent(input: GoodsReceivedInput): GoodsReceivedEvent {
  return envelope(GOODS_RECEIVED, input.data.receivedAt, input)
}

export function stockAdjustedEvent(input: EventInput<StockAdjustedData>): StockAdjustedEvent {
  return envelope(STOCK_ADJUSTED, input.data.adjustedAt, input)
}
