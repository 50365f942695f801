import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { TenantId } from './goods-received.js'
import './formats.js'

/**
 * CloudEvents 1.0, structured JSON mode. Consumers accept unknown attributes (contracts change
 * additively); `tenantid` is an extension attribute: an event without one matches no subscription.
 */
export function CloudEvent<Type extends string, Data extends TSchema>(type: Type, data: Data) {
  return Type.Object({
    specversion: Type.Literal('1.0'),
    id: Type.String({ minLength: 1, maxLength: 128, description: 'Unique per event.' }),
    source: Type.String({ minLength: 1, maxLength: 256, description: 'URI-reference naming the producer.' }),
    type: Type.Literal(type),
    time: Type.String({ format: 'date-time', description: 'When the goods were received.' }),
    datacontenttype: Type.Optional(Type.Literal('application/json')),
    subject: Type.Optional(Type.String({ maxLength: 256 })),
    tenantid: Type.Optional(TenantId),
    traceparent: Type.Optional(Type.String({ maxLength: 55 })),
    data,
  })
}

export type CloudEventEnvelope = Static<ReturnType<typeof CloudEvent<string, TSchema>>>
