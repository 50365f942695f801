import { Type } from '@sinclair/typebox'
import { AttemptRecord } from '@arrivals/contracts'
import { QueryInteger, SubscriptionId } from './subscriptions.js'

export const AttemptsQuery = Type.Object({
  limit: Type.Optional(QueryInteger('How many of the newest attempts: 1 to 100 (default 100, the most kept).')),
}, { additionalProperties: false })

export const AttemptList = Type.Object({
  items: Type.Array(AttemptRecord, { description: 'Delivery attempts, newest first.' }),
}, { description: 'Recent delivery attempts of one subscription.' })

export const DeadLetterId = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$', description: 'The dead letter\'s identifier.', 'x-ms-summary': 'Dead letter ID' })

export const DeadLetterParams = Type.Object({ deadLetterId: DeadLetterId }, { additionalProperties: false })

/** A dead letter as the API shows it: why and when, never the callback, the secret or the raw body. */
export const DeadLetter = Type.Object({
  id: DeadLetterId,
  class: Type.String({ enum: ['endpoint', 'pipeline'], description: 'endpoint: the receiver kept failing; pipeline: Arrivals could not process the message.' }),
  subscriptionId: Type.Union([Type.String(), Type.Null()], { description: 'The subscription it was for.' }),
  eventId: Type.Union([Type.String(), Type.Null()], { description: 'The event it carried.' }),
  deliveryId: Type.Optional(Type.String({ description: 'The webhook-id; a replay sends the same one.' })),
  reason: Type.String({ description: 'Why it was given up.' }),
  lastStatus: Type.Union([Type.Integer(), Type.Null()], { description: 'The receiver\'s last HTTP status, if any.' }),
  attempts: Type.Integer({ description: 'How many attempts were made.' }),
  deadLetteredAt: Type.String({ format: 'date-time', description: 'When it was given up.' }),
  replayable: Type.Boolean({ description: 'Whether it carries a delivery that can be replayed.' }),
}, { $id: 'DeadLetter', title: 'Dead letter', description: 'A delivery that was given up.' })

export const DeadLetterQuery = Type.Object({
  subscriptionId: Type.Optional(SubscriptionId),
  limit: Type.Optional(QueryInteger('Page size: 1 to 500 (default 100).')),
  offset: Type.Optional(QueryInteger('How many to skip (newest first).')),
}, { additionalProperties: false })

export const DeadLetterList = Type.Object({
  items: Type.Array(Type.Ref(DeadLetter), { description: 'Dead letters, newest first.' }),
}, { description: 'A page of dead letters.' })

export const DeliveryAccepted = Type.Object({
  deliveryId: Type.String({ description: 'The webhook-id the notification will carry.' }),
}, { description: 'Queued for delivery.' })

export const RedeliverQuery = Type.Object({
  since: Type.String({ format: 'date-time', description: 'Redeliver every dead letter of the subscription given up at or after this time (RFC 3339).' }),
}, { additionalProperties: false })

export const RedeliverAccepted = Type.Object({
  count: Type.Integer({ description: 'How many deliveries were queued again.' }),
  deliveryIds: Type.Array(Type.String(), { description: 'Their webhook-ids (the originals).' }),
  nextSince: Type.Optional(Type.String({
    format: 'date-time',
    description: 'Present when this call stopped at its bound and later dead letters may match: call again with since set to this value.',
  })),
}, { description: 'Queued for delivery again.' })

export { SubscriptionId }
