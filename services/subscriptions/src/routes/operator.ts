import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { flowRateProblem, parseFlowRate, type DeadLetterRecord, type SubscriptionRecord } from '@arrivals/contracts'
import { historyLimits } from '@arrivals/subscription-registry'
import { HttpError, requireOperator } from '@arrivals/service-kit'
import { replayTask, testTask } from '../delivery-tasks.js'
import {
  AttemptList, AttemptsQuery, DeadLetterList, DeadLetterParams, DeadLetterQuery,
  DeliveryAccepted, RedeliverAccepted, RedeliverQuery,
} from '../schemas/deliveries.js'
import { errorResponses } from '../schemas/errors.js'
import { FlowRateOverride, ListQuery, queryInteger, SecretRotated, Subscription, SubscriptionList, SubscriptionParams } from '../schemas/subscriptions.js'
import { subscriptionActivity } from '../subscription-activity.js'
import { subscriptionView } from '../subscription-view.js'

const subscriptionRef = Type.Ref(Subscription)
const SUBSCRIPTIONS = 'subscriptions'
const DEAD_LETTERS = 'dead letters'
const MAX_CURSOR = 2n ** 64n - 1n
const DISABLED_BY_OPERATOR = 'disabled by an operator'
/** Dead letters of the tenant's time index one redeliver call walks at most (the rest: call again with nextSince). */
const REDELIVER_EXAMINED_PER_CALL = 500
const NOT_AN_OPERATOR = 'this key is a maker\'s key: the operator API needs an operator\'s key (API_KEYS entry tenantId:key:operator) or the Arrivals.Operator app role'

/**
 * The instant an RFC 3339 date-time names, in ms. The HTTP layer's date-time already refuses a leap
 * second (`23:59:60`, which Date.parse cannot read); should one get here, it is the moment after
 * `23:59:59.999`, and nothing unreadable ever reaches Redis as NaN.
 */
function instantOf(dateTime: string): number {
  const leap = /^(.*T\d{2}:\d{2}:)60(.*)$/i.exec(dateTime)
  const ms = leap ? Date.parse(`${leap[1]}59${leap[2]}`) + 1_000 : Date.parse(dateTime)
  if (Number.isNaN(ms)) throw new HttpError(400, `querystring/since "${dateTime}" is not a date-time this API can read (RFC 3339)`, 'INVALID_TIME')
  return ms
}

function notFound(subscriptionId: string): HttpError {
  return new HttpError(404, `your tenant has no subscription ${subscriptionId}`, 'SUBSCRIPTION_NOT_FOUND')
}

/** A dead letter as the API shows it: never the task's payload, the raw body or anything sealed. */
function deadLetterView(record: DeadLetterRecord) {
  return {
    id: record.id,
    class: record.class,
    subscriptionId: record.subscriptionId,
    eventId: record.eventId,
    ...(record.task ? { deliveryId: record.task.deliveryId } : {}),
    reason: record.reason,
    lastStatus: record.lastStatus,
    attempts: record.attempts,
    deadLetteredAt: record.deadLetteredAt,
    replayable: record.task !== undefined && record.subscriptionId !== null,
  }
}

/**
 * The operator API: every route is scoped to the caller's tenant (a record of another tenant is
 * simply not found) and needs an operator (403 for a maker: every maker of a tenant holds the
 * connector's key, so it must not reach other flows). Not part of the connector.
 */
const operator: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', requireOperator(NOT_AN_OPERATOR))

  async function own(tenantId: string, subscriptionId: string): Promise<SubscriptionRecord> {
    const record = await app.subscriptions.get(tenantId, subscriptionId)
    if (!record) throw notFound(subscriptionId)
    return record
  }

  app.get('/v1/subscriptions', {
    schema: {
      operationId: 'ListSubscriptions',
      tags: [SUBSCRIPTIONS],
      summary: 'List subscriptions',
      description: 'Lists your subscriptions a page at a time, callbacks redacted, each with its recent delivery activity.',
      querystring: ListQuery,
      response: { 200: SubscriptionList, ...errorResponses(400, 401, 403, 429, 503) },
    },
  }, async (request) => {
    // Redis cursors are unsigned 64-bit: a larger one is a Redis error, i.e. it was never handed out.
    if (request.query.cursor !== undefined && BigInt(request.query.cursor) > MAX_CURSOR) {
      throw new HttpError(400, 'querystring/cursor is not a cursor this API handed out; pass a nextCursor back, or none for the first page', 'INVALID_CURSOR')
    }
    const page = await app.subscriptions.list(request.tenantId, { cursor: request.query.cursor, limit: queryInteger(request.query.limit, 100, 1, 500) })
    const now = Date.now()
    const items = await Promise.all(page.items.map(async (record) => ({
      ...subscriptionView(record),
      activity: subscriptionActivity(await app.history.attempts.list(request.tenantId, record.id, historyLimits.attemptsPerSubscription), now),
    })))
    return { items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }
  })

  app.get('/v1/subscriptions/:subscriptionId', {
    schema: {
      operationId: 'GetSubscription',
      tags: [SUBSCRIPTIONS],
      summary: 'Get a subscription',
      description: 'Shows one subscription: status, filters, owning flow; the callback redacted.',
      params: SubscriptionParams,
      response: { 200: subscriptionRef, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (request) => subscriptionView(await own(request.tenantId, request.params.subscriptionId)))

  /** Enable and disable share one shape: only the change, the words and the log line differ. */
  function statusRoute(action: 'enable' | 'disable', operationId: string, summary: string, description: string,
    change: (tenantId: string, subscriptionId: string) => Promise<SubscriptionRecord | undefined>) {
    app.post(`/v1/subscriptions/:subscriptionId/${action}`, {
      schema: { operationId, tags: [SUBSCRIPTIONS], summary, description, params: SubscriptionParams, response: { 200: subscriptionRef, ...errorResponses(400, 401, 403, 404, 429, 503) } },
    }, async (request) => {
      const record = await change(request.tenantId, request.params.subscriptionId)
      if (!record) throw notFound(request.params.subscriptionId)
      request.log.info({ subscriptionId: record.id }, `subscription ${action}d`)
      return subscriptionView(record)
    })
  }

  statusRoute('enable', 'EnableSubscription', 'Enable a subscription',
    'Makes a subscription that was disabled after sustained delivery failure active again.',
    (tenantId, id) => app.subscriptions.enable(tenantId, id))

  statusRoute('disable', 'DisableSubscription', 'Disable a subscription',
    'Stops notifications to a subscription until it is enabled again (or its flow subscribes again); events meanwhile are not delivered.',
    (tenantId, id) => app.subscriptions.disable(tenantId, id, DISABLED_BY_OPERATOR))

  app.put('/v1/subscriptions/:subscriptionId/flow-rate-limit', {
    schema: {
      operationId: 'SetFlowRateLimit',
      tags: [SUBSCRIPTIONS],
      summary: 'Override the flow rate',
      description: 'Sets how many notifications this subscription may get in any window (FLOW_RATE_LIMIT otherwise): higher for a flow on a plan with a higher limit, unlimited for a receiver that is not a flow.',
      params: SubscriptionParams,
      body: FlowRateOverride,
      response: { 200: subscriptionRef, ...errorResponses(400, 401, 403, 404, 415, 429, 503) },
    },
  }, async (request) => {
    if (parseFlowRate(request.body.flowRateLimit) === undefined) throw new HttpError(400, flowRateProblem('body/flowRateLimit', request.body.flowRateLimit), 'INVALID_FLOW_RATE')
    const record = await app.subscriptions.setFlowRateLimit(request.tenantId, request.params.subscriptionId, request.body.flowRateLimit)
    if (!record) throw notFound(request.params.subscriptionId)
    request.log.info({ subscriptionId: record.id, flowRateLimit: request.body.flowRateLimit }, 'flow rate overridden')
    return subscriptionView(record)
  })

  app.delete('/v1/subscriptions/:subscriptionId/flow-rate-limit', {
    schema: {
      operationId: 'ResetFlowRateLimit',
      tags: [SUBSCRIPTIONS],
      summary: 'Use the deployment\'s flow rate',
      description: 'Removes the subscription\'s override: FLOW_RATE_LIMIT applies to it again.',
      params: SubscriptionParams,
      response: { 200: subscriptionRef, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (request) => {
    const record = await app.subscriptions.setFlowRateLimit(request.tenantId, request.params.subscriptionId, undefined)
    if (!record) throw notFound(request.params.subscriptionId)
    request.log.info({ subscriptionId: record.id }, 'flow rate override removed')
    return subscriptionView(record)
  })

  app.post('/v1/subscriptions/:subscriptionId/secret/rotate', {
    schema: {
      operationId: 'RotateSigningSecret',
      tags: [SUBSCRIPTIONS],
      summary: 'Rotate the signing secret',
      description: 'Replaces the subscription\'s signing secret; the new one is shown once and signs every notification from now on.',
      params: SubscriptionParams,
      response: { 200: SecretRotated, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (request) => {
    const rotated = await app.subscriptions.rotateSecret(request.tenantId, request.params.subscriptionId)
    if (!rotated) throw notFound(request.params.subscriptionId)
    request.log.info({ subscriptionId: rotated.record.id }, 'signing secret rotated')
    return { id: rotated.record.id, signingSecret: rotated.secret }
  })

  app.get('/v1/subscriptions/:subscriptionId/attempts', {
    schema: {
      operationId: 'ListAttempts',
      tags: [SUBSCRIPTIONS],
      summary: 'List delivery attempts',
      description: 'Lists the most recent delivery attempts of one subscription, newest first.',
      params: SubscriptionParams,
      querystring: AttemptsQuery,
      response: { 200: AttemptList, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (request) => {
    const record = await own(request.tenantId, request.params.subscriptionId)
    return { items: await app.history.attempts.list(request.tenantId, record.id, queryInteger(request.query.limit, 100, 1, 100)) }
  })

  app.post('/v1/subscriptions/:subscriptionId/test', {
    schema: {
      operationId: 'SendTestNotification',
      tags: [SUBSCRIPTIONS],
      summary: 'Send a test notification',
      description: 'Queues a signed sample notification to the subscription\'s callback, delivered and retried like a real one.',
      params: SubscriptionParams,
      response: { 202: DeliveryAccepted, ...errorResponses(400, 401, 403, 404, 409, 429, 503) },
    },
  }, async (request, reply) => {
    const record = await own(request.tenantId, request.params.subscriptionId)
    if (record.status !== 'active') throw new HttpError(409, `subscription ${record.id} is disabled (${record.disabledReason ?? 'no reason recorded'}); enable it first`, 'SUBSCRIPTION_DISABLED')
    const task = testTask(record)
    await app.deliveries.publish([task])
    request.log.info({ subscriptionId: record.id, deliveryId: task.deliveryId }, 'test notification queued')
    return reply.code(202).send({ deliveryId: task.deliveryId })
  })

  app.post('/v1/subscriptions/:subscriptionId/redeliver', {
    schema: {
      operationId: 'RedeliverSince',
      tags: [SUBSCRIPTIONS],
      summary: 'Redeliver failed notifications',
      description: 'Queues again the dead letters of the subscription given up at or after a time, each with its original webhook-id. '
        + `One call looks at no more than about ${REDELIVER_EXAMINED_PER_CALL} of your tenant's dead letters, oldest first; when there may be more, the answer has nextSince: `
        + 'call again with since=nextSince until it is absent.',
      params: SubscriptionParams,
      querystring: RedeliverQuery,
      response: { 202: RedeliverAccepted, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (request, reply) => {
    const record = await own(request.tenantId, request.params.subscriptionId)
    const scanned = await app.history.deadLetters.scanSince(request.tenantId, record.id, instantOf(request.query.since), REDELIVER_EXAMINED_PER_CALL)
    const deadLetters = scanned.records.filter((dl) => dl.task)
    const tasks = deadLetters.map((dl) => replayTask(dl.task!, 'redeliver'))
    await app.deliveries.publish(tasks)
    await app.history.deadLetters.remove(request.tenantId, deadLetters.map((dl) => dl.id))
    const nextSince = scanned.nextSinceMs === undefined ? undefined : new Date(scanned.nextSinceMs).toISOString()
    request.log.info({ subscriptionId: record.id, since: request.query.since, count: tasks.length, nextSince }, 'dead letters redelivered')
    return reply.code(202).send({ count: tasks.length, deliveryIds: tasks.map((task) => task.deliveryId), ...(nextSince ? { nextSince } : {}) })
  })

  app.get('/v1/dead-letters', {
    schema: {
      operationId: 'ListDeadLetters',
      tags: [DEAD_LETTERS],
      summary: 'List dead letters',
      description: 'Lists the deliveries your tenant gave up on, newest first, optionally for one subscription.',
      querystring: DeadLetterQuery,
      response: { 200: DeadLetterList, ...errorResponses(400, 401, 403, 429, 503) },
    },
  }, async (request) => {
    const { subscriptionId } = request.query
    const limit = queryInteger(request.query.limit, 100, 1, 500)
    const offset = queryInteger(request.query.offset, 0, 0, 100_000)
    const records = await app.history.deadLetters.list(request.tenantId, { limit, offset, ...(subscriptionId ? { subscriptionId } : {}) })
    return { items: records.map(deadLetterView) }
  })

  app.post('/v1/dead-letters/:deadLetterId/replay', {
    schema: {
      operationId: 'ReplayDeadLetter',
      tags: [DEAD_LETTERS],
      summary: 'Replay a dead letter',
      description: 'Queues the dead letter\'s delivery again with its original webhook-id, then removes it from the list.',
      params: DeadLetterParams,
      response: { 202: DeliveryAccepted, ...errorResponses(400, 401, 403, 404, 409, 429, 503) },
    },
  }, async (request, reply) => {
    const { deadLetterId } = request.params
    const record = await app.history.deadLetters.get(request.tenantId, deadLetterId)
    if (!record) throw new HttpError(404, `your tenant has no dead letter ${deadLetterId}`, 'DEAD_LETTER_NOT_FOUND')
    if (!record.task || !record.subscriptionId) {
      throw new HttpError(409, `dead letter ${deadLetterId} is a ${record.class} failure without a delivery to replay (${record.reason}); discard it`, 'NOT_REPLAYABLE')
    }
    if (!(await app.subscriptions.get(request.tenantId, record.subscriptionId))) {
      throw new HttpError(409, `subscription ${record.subscriptionId} of dead letter ${deadLetterId} no longer exists; discard it`, 'SUBSCRIPTION_GONE')
    }
    const task = replayTask(record.task, 'replay')
    // Published before it is removed: a crash in between replays it twice with the same webhook-id
    // (a receiver can tell), never loses it.
    await app.deliveries.publish([task])
    await app.history.deadLetters.remove(request.tenantId, [deadLetterId])
    request.log.info({ deadLetterId, subscriptionId: record.subscriptionId, deliveryId: task.deliveryId }, 'dead letter replayed')
    return reply.code(202).send({ deliveryId: task.deliveryId })
  })

  app.delete('/v1/dead-letters/:deadLetterId', {
    schema: {
      operationId: 'DiscardDeadLetter',
      tags: [DEAD_LETTERS],
      summary: 'Discard a dead letter',
      description: 'Removes a dead letter without delivering it.',
      params: DeadLetterParams,
      response: { 204: { type: 'null', description: 'Discarded.' }, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (request, reply) => {
    const { deadLetterId } = request.params
    if ((await app.history.deadLetters.remove(request.tenantId, [deadLetterId])) === 0) {
      throw new HttpError(404, `your tenant has no dead letter ${deadLetterId}`, 'DEAD_LETTER_NOT_FOUND')
    }
    request.log.info({ deadLetterId }, 'dead letter discarded')
    return reply.code(204).send()
  })
}

export default operator
