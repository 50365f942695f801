import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { catalogueEntry, validTraceparent, type ArrivalsEvent, type EventInput } from '@arrivals/contracts'
import { InvalidEventError, PublishUnavailableError } from '@arrivals/messaging'
import { HttpError, ServiceUnavailableError } from '@arrivals/service-kit'
import { eventIdentity, type RecordKind } from './event-identity.js'
import { canonicalHash, type Claim } from './plugins/app/idempotency.js'

/** Seconds a caller should wait before retrying after the broker was unavailable. */
const PUBLISH_RETRY_AFTER_SECONDS = 5

export interface PublishSettings {
  eventSource: string
  confirmTimeoutMs: number
}

/** What the route knows once the request is admitted: the recorded thing's id and the store's name. */
export interface RecordContext {
  /** The caller's id of what it recorded if it sent one, else the derived or generated one. */
  objectId: string
  storeId: string
  storeName: string
}

export interface Recording<Data> {
  kind: RecordKind
  /** The caller's own id of the thing recorded, if it sent one. The body as sent (and the store) is what an Idempotency-Key is bound to. */
  objectId: string | undefined
  /** The name an unknown store is registered with, and the event's storeName when given. */
  storeName: string | undefined
  /** The body's field the event's `time` is made of (`receivedAt`), to name it in an error. */
  timeField: string
  /** The contract's builder of this event type (envelope around the data). */
  event(input: EventInput<Data>): ArrivalsEvent
  data(context: RecordContext): Data
}

/** An invalid event's fields named as the body names them (the event's `time` is the body's `timeField`). */
function inBodyTerms(reason: string, timeField: string): string {
  return reason.replace(/ at \/time\b/, ` at body/${timeField}`).replace(/ at \/data\//, ' at body/')
}

/**
 * How every recording route answers: Idempotency-Key (replay, conflict, in progress), the store
 * registered, the event built and published, and 202 with `{ eventId, <noun>Id }` only after the
 * broker's confirm; a 503 with Retry-After when the broker did not confirm.
 */
export async function recordEvent<Data>(
  app: FastifyInstance, request: FastifyRequest<{ Params: { storeId: string } }>, reply: FastifyReply, settings: PublishSettings, recording: Recording<Data>,
) {
  const { tenantId, body } = request
  const { storeId } = request.params
  const { kind } = recording
  const idempotencyKey = request.headers['idempotency-key'] as string | undefined

  let claim: Claim | undefined
  if (idempotencyKey !== undefined) {
    // Two routes' bodies never hash alike (each requires a field the other refuses), so one key
    // reused across routes is a conflict, never a replay of the other's answer.
    claim = await app.idempotency.claim(tenantId, idempotencyKey, canonicalHash({ storeId, body }))
    if (claim.outcome === 'replay') return reply.code(202).header('idempotent-replayed', 'true').send(claim.answer)
    if (claim.outcome === 'conflict') throw new HttpError(422, `this Idempotency-Key was already used with a different request; use a new key for a different ${kind.noun}`, 'IDEMPOTENCY_KEY_REUSED')
    if (claim.outcome === 'in-progress') {
      reply.header('retry-after', '1')
      throw new HttpError(409, 'a request with this Idempotency-Key is still in progress; retry shortly to get its answer', 'IDEMPOTENCY_IN_PROGRESS')
    }
  }
  const settled = claim?.outcome === 'claimed' ? claim : undefined

  try {
    const identity = eventIdentity(kind, tenantId, idempotencyKey)
    const objectId = recording.objectId ?? identity.objectId
    // Registering an unknown store before publishing is harmless if the publish then fails: the
    // caller named the store, and the catalogue only lists names.
    const store = await app.stores.ensure(tenantId, storeId, recording.storeName ?? storeId)
    const traceparent = validTraceparent(request.headers.traceparent)
    const event = recording.event({
      id: identity.eventId,
      tenantId,
      source: settings.eventSource,
      traceparent,
      data: recording.data({ objectId, storeId, storeName: recording.storeName ?? store.name }),
    })
    // What the schema cannot say (a delta of 0). The request's fields are the event data's, so the
    // data's path is the body's.
    const problem = catalogueEntry(event.type)?.refine?.(event.data)
    if (problem) throw new HttpError(400, `body${problem.path} ${problem.message}`, 'VALIDATION_FAILED')
    await app.events.publish(event, { traceparent })
    const answer = { eventId: event.id, [`${kind.noun}Id`]: objectId }
    request.log.info({ tenantId, storeId, [`${kind.noun}Id`]: objectId, eventId: event.id, eventType: event.type }, `${kind.noun} published`)
    // The event is confirmed: a failure to store the answer must not turn it into an error.
    await settled?.complete(answer).catch((error: Error) => request.log.warn({ err: { message: error.message }, tenantId }, 'could not store the idempotent answer'))
    return reply.code(202).send(answer)
  } catch (error) {
    // Only a publish that may have reached the broker binds the key to this request; anything
    // refused before that (an invalid event, Redis away before the publish) frees the key.
    await (error instanceof PublishUnavailableError ? settled?.fail() : settled?.release())?.catch(() => {})
    if (error instanceof PublishUnavailableError) {
      // The detail (addresses, timings) goes to the log; the caller learns what to do.
      request.log.warn({ err: { message: error.message }, tenantId, storeId }, `${kind.noun} not published`)
      throw new ServiceUnavailableError(
        `the ${kind.noun} was not accepted: the message broker is unavailable or did not confirm it within ${settings.confirmTimeoutMs} ms; retry after ${PUBLISH_RETRY_AFTER_SECONDS} s with the same Idempotency-Key (send one if you did not), so that a ${kind.noun} whose confirm was lost is not published twice`,
        PUBLISH_RETRY_AFTER_SECONDS, { cause: error },
      )
    }
    if (error instanceof InvalidEventError) throw new HttpError(400, `the ${kind.noun} does not make a valid event: ${inBodyTerms(error.message, recording.timeField)}`, 'INVALID_EVENT')
    throw error
  }
}
