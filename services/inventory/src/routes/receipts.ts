import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { goodsReceivedEvent, totalQuantity } from '@arrivals/contracts'
import { InvalidEventError, PublishUnavailableError } from '@arrivals/messaging'
import { HttpError, ServiceUnavailableError } from '@arrivals/service-kit'
import { canonicalHash, type Claim } from '../plugins/app/idempotency.js'
import { validTraceparent } from '@arrivals/contracts'
import { receiptIdentity } from '../receipt-identity.js'
import { errorResponses } from '../schemas/errors.js'
import { ReceiptAccepted, ReceiptBody, ReceiptHeaders } from '../schemas/receipts.js'
import { StoreParams } from '../schemas/stores.js'

/** Seconds a caller should wait before retrying after the broker was unavailable. */
const PUBLISH_RETRY_AFTER_SECONDS = 5

/** The event's fields named as the body names them (the event's `time` is the body's receivedAt). */
function inBodyTerms(reason: string): string {
  return reason.replace(/ at \/time\b/, ' at body/receivedAt').replace(/ at \/data\//, ' at body/')
}

const receipts: FastifyPluginAsyncTypebox<{ eventSource: string; confirmTimeoutMs: number }> = async (app, options) => {
  app.post('/v1/stores/:storeId/receipts', {
    schema: {
      operationId: 'recordGoodsReceipt',
      tags: ['receipts'],
      summary: 'Record a goods receipt and publish GoodsReceived',
      description: 'Answers 202 only after RabbitMQ confirmed the event. A store the catalogue does not know is registered (named storeName, else its id).',
      params: StoreParams,
      headers: ReceiptHeaders,
      body: ReceiptBody,
      response: {
        202: ReceiptAccepted,
        ...errorResponses(400, 401, 409, 413, 415, 422, 429, 503),
      },
    },
  }, async (request, reply) => {
    const { tenantId } = request
    const { storeId } = request.params
    const body = request.body
    const idempotencyKey = request.headers['idempotency-key']

    let claim: Claim | undefined
    if (idempotencyKey !== undefined) {
      claim = await app.idempotency.claim(tenantId, idempotencyKey, canonicalHash({ storeId, body }))
      if (claim.outcome === 'replay') return reply.code(202).header('idempotent-replayed', 'true').send(claim.answer as ReceiptAccepted)
      if (claim.outcome === 'conflict') throw new HttpError(422, 'this Idempotency-Key was already used with a different request; use a new key for a different receipt', 'IDEMPOTENCY_KEY_REUSED')
      if (claim.outcome === 'in-progress') {
        reply.header('retry-after', '1')
        throw new HttpError(409, 'a request with this Idempotency-Key is still in progress; retry shortly to get its answer', 'IDEMPOTENCY_IN_PROGRESS')
      }
    }
    const settled = claim?.outcome === 'claimed' ? claim : undefined

    try {
      const identity = receiptIdentity(tenantId, idempotencyKey)
      const receiptId = body.receiptId ?? identity.receiptId
      // Registering an unknown store before publishing is harmless if the publish then fails: the
      // caller named the store, and the catalogue only lists names.
      const store = await app.stores.ensure(tenantId, storeId, body.storeName ?? storeId)
      const traceparent = validTraceparent(request.headers.traceparent)
      const event = goodsReceivedEvent({
        id: identity.eventId,
        tenantId,
        source: options.eventSource,
        traceparent,
        data: {
          receiptId,
          storeId,
          storeName: body.storeName ?? store.name,
          supplier: body.supplier,
          receivedAt: body.receivedAt ?? new Date().toISOString(),
          items: body.items,
          totalQuantity: totalQuantity(body.items),
        },
      })
      await app.events.publish(event, { traceparent })
      const answer: ReceiptAccepted = { eventId: event.id, receiptId }
      request.log.info({ tenantId, storeId, receiptId, eventId: event.id }, 'goods receipt published')
      // The event is confirmed: a failure to store the answer must not turn it into an error.
      await settled?.complete(answer).catch((error: Error) => request.log.warn({ err: { message: error.message }, tenantId }, 'could not store the idempotent answer'))
      return reply.code(202).send(answer)
    } catch (error) {
      // Only a publish that may have reached the broker binds the key to this request; anything
      // refused before that (an invalid event, Redis away before the publish) frees the key.
      await (error instanceof PublishUnavailableError ? settled?.fail() : settled?.release())?.catch(() => {})
      if (error instanceof PublishUnavailableError) {
        // The detail (addresses, timings) goes to the log; the caller learns what to do.
        request.log.warn({ err: { message: error.message }, tenantId, storeId }, 'goods receipt not published')
        throw new ServiceUnavailableError(
          `the receipt was not accepted: the message broker is unavailable or did not confirm it within ${options.confirmTimeoutMs} ms; retry after ${PUBLISH_RETRY_AFTER_SECONDS} s with the same Idempotency-Key (send one if you did not), so that a receipt whose confirm was lost is not published twice`,
          PUBLISH_RETRY_AFTER_SECONDS, { cause: error },
        )
      }
      if (error instanceof InvalidEventError) throw new HttpError(400, `the receipt does not make a valid event: ${inBodyTerms(error.message)}`, 'INVALID_EVENT')
      throw error
    }
  })
}

export default receipts
