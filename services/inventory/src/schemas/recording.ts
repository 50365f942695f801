import { Type, type TObject, type TProperties, type TString } from '@sinclair/typebox'
import { limits } from '@arrivals/contracts'
import { errorResponses } from './errors.js'
import { StoreParams } from './stores.js'

// What every recording route (receipts, adjustments) takes alike: its own id, when it happened, the
// store's name, and the headers.

/** The caller's own identifier of what it records; generated (`<prefix>_…`) when absent. */
export const CallerId = (what: string, prefix: string) => Type.Optional(Type.String({
  minLength: 1,
  maxLength: limits.idLength,
  pattern: '^[A-Za-z0-9_.:-]+$',
  description: `Your identifier of the ${what} (letters, digits, "_", ".", ":", "-"); generated (${prefix}_…) when absent.`,
}))

const EVENT_TIME_MAX_LENGTH = 35

/** When it happened: the event's time, defaulting to now. */
export const EventTime = (what: string) => Type.Optional(Type.String({
  format: 'date-time',
  // 2026-03-01T09:30:00.123456789+01:00: nanoseconds and an offset, the longest sensible time.
  maxLength: EVENT_TIME_MAX_LENGTH,
  // The contract's shape: a "T" between date and time, and a time zone.
  pattern: '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$',
  description: `When ${what} (RFC 3339 with a time zone, e.g. 2026-03-01T09:30:00Z, at most ${EVENT_TIME_MAX_LENGTH} characters); defaults to now.`,
}))

export const StoreName = Type.Optional(Type.String({
  minLength: 1,
  maxLength: limits.nameLength,
  description: 'The store\'s name in this event, and the name an unknown store is registered with (else its id). A known store keeps its catalogue name.',
}))

const IDEMPOTENCY_KEY_PATTERN = '^[A-Za-z0-9_.:-]{1,128}$'

export const RecordingHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({
    pattern: IDEMPOTENCY_KEY_PATTERN,
    maxLength: 128,
    description: 'Makes a retry safe: the same key and body answer the first 202 again and publish nothing; the same key with a different body is refused (422). 1 to 128 of letters, digits, "_", ".", ":", "-" (a UUID fits). Kept 24 h.',
  })),
  // No maxLength on purpose: an invalid traceparent is ignored (W3C), never refused; only a valid
  // one (55 characters) is kept. Node's 16 KB header limit bounds it (431).
  traceparent: Type.Optional(Type.String({ description: 'W3C trace context (55 characters); travels with the event to the flow\'s webhook. Anything but a valid traceparent is ignored.' })),
})

/** The 202 of a recording route: the event's id and the recorded thing's (`<noun>Id`). */
export function Accepted<Id extends string>(eventName: string, idField: Id, prefix: string) {
  const properties = {
    eventId: Type.String({ maxLength: 128, description: `The CloudEvents id of the published ${eventName} event (the webhook carries it as eventId).` }),
    [idField]: Type.String({ maxLength: limits.idLength, description: `Yours if you sent one, else generated (${prefix}_…).` }),
  } as { eventId: TString } & Record<Id, TString>
  return Type.Object(properties, { description: 'The broker confirmed the event: it will reach every matching flow.' })
}

/** The schema of a recording route: the store in the path, the headers, a body, 202 or an error. */
export function recordingRoute<Body extends TObject, Answer extends TObject<TProperties>>(
  operationId: string, tag: string, { body, accepted }: { body: Body; accepted: Answer }, text: { summary: string; description: string },
) {
  return {
    operationId,
    tags: [tag],
    summary: text.summary,
    description: `Answers 202 only after RabbitMQ confirmed the event. ${text.description}`,
    params: StoreParams,
    headers: RecordingHeaders,
    body,
    response: { 202: accepted, ...errorResponses(400, 401, 409, 413, 415, 422, 429, 503) },
  }
}
