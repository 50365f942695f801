import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { randomUUID } from 'node:crypto'
import { parseBoundedJson } from './bounded-json.js'
import { CloudEvent } from './cloud-event.js'
import { GOODS_RECEIVED, GoodsReceivedData } from './goods-received.js'

export const GoodsReceivedEvent = CloudEvent(GOODS_RECEIVED, GoodsReceivedData)
export type GoodsReceivedEvent = Static<typeof GoodsReceivedEvent>

/** Every event type Arrivals can deliver to a flow, and so every routing key the dispatcher binds. */
export const deliverableEventTypes = [GOODS_RECEIVED] as const
export type DeliverableEventType = (typeof deliverableEventTypes)[number]

export const ArrivalsEvent = Type.Union([GoodsReceivedEvent])
export type ArrivalsEvent = Static<typeof ArrivalsEvent>

const goodsReceivedCheck = TypeCompiler.Compile(GoodsReceivedEvent)

export type EventValidation =
  | { ok: true; event: ArrivalsEvent }
  | { ok: false; reason: string }

/**
 * Validates anything that claims to be an Arrivals event. The reason names the first problem, so a
 * dead letter says what the producer must fix.
 */
export function validateEvent(candidate: unknown): EventValidation {
  if (typeof candidate !== 'object' || candidate === null || Array.isArray(candidate)) {
    return { ok: false, reason: 'event is not a JSON object' }
  }
  const type = (candidate as { type?: unknown }).type
  if (type !== GOODS_RECEIVED) {
    return { ok: false, reason: `unknown event type ${JSON.stringify(type)}; known: ${deliverableEventTypes.join(', ')}` }
  }
  if (goodsReceivedCheck.Check(candidate)) return { ok: true, event: candidate }
  const first = goodsReceivedCheck.Errors(candidate).First()
  const where = first?.path || '/'
  return { ok: false, reason: `invalid ${GOODS_RECEIVED} at ${where}: ${first?.message ?? 'does not match the schema'}` }
}

/** Parses a broker message body (within `brokerMessageLimits`) and validates it in one step. */
export function parseEvent(body: Buffer | string): EventValidation {
  const parsed = parseBoundedJson(body, 'message body')
  return parsed.ok ? validateEvent(parsed.value) : parsed
}

export interface GoodsReceivedInput {
  tenantId: string
  source: string
  data: GoodsReceivedData
  id?: string
  traceparent?: string
}

export function goodsReceivedEvent(input: GoodsReceivedInput): GoodsReceivedEvent {
  const event: GoodsReceivedEvent = {
    specversion: '1.0',
    id: input.id ?? randomUUID(),
    source: input.source,
    type: GOODS_RECEIVED,
    time: input.data.receivedAt,
    datacontenttype: 'application/json',
    subject: input.data.storeId,
    tenantid: input.tenantId,
    data: input.data,
  }
  if (input.traceparent) event.traceparent = input.traceparent
  return event
}
