import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { CallbackRefusedError, checkCallbackUrl, type CallbackPolicy } from '@arrivals/callback-safety'
import { catalogue, redactUrl, type CatalogueEntry, type FlowInfo } from '@arrivals/contracts'
import { HttpError } from '@arrivals/service-kit'
import { CONNECTOR_TAG } from '../connector/definition.js'
import { publicBase, publicUrl } from '../public-url.js'
import { errorResponses } from '../schemas/errors.js'
import { SubscriptionCreated, SubscriptionParams, triggerBody, type TriggerBody } from '../schemas/subscriptions.js'
import { subscriptionView } from '../subscription-view.js'

export interface TriggerOptions {
  namespace: string
  publicBaseUrl: string | undefined
  callbackPolicy: CallbackPolicy
}

/** Header values kept on the record are bounded: they are shown to operators, not trusted. */
const MAX_HEADER_VALUE = 256

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  const text = Array.isArray(value) ? value[0] : value
  return text ? text.slice(0, MAX_HEADER_VALUE) : undefined
}

/**
 * Which flow is subscribing, from the headers Power Automate and Logic Apps send. Never the
 * x-ms-workflow-subscription-id: that is the Azure subscription, shared by many flows.
 */
function flowInfo(request: FastifyRequest): FlowInfo {
  const flow: FlowInfo = {}
  const workflowId = headerValue(request, 'x-ms-workflow-id')
  const workflowName = headerValue(request, 'x-ms-workflow-name')
  const environmentId = headerValue(request, 'x-ms-environment-id')
  if (workflowId) flow.workflowId = workflowId
  if (workflowName) flow.workflowName = workflowName
  if (environmentId) flow.environmentId = environmentId
  const triggerType = headerValue(request, 'x-ms-trigger-type')
  flow.platform = triggerType === 'OpenApiConnectionWebhook' ? 'power-automate'
    : triggerType === 'ApiConnectionWebhook' || (workflowId && !environmentId) ? 'logic-apps'
      : environmentId ? 'power-automate' : 'api'
  return flow
}

const created = {
  ...Type.Ref(SubscriptionCreated),
  description: 'Subscribed (or already subscribed with this callback and these filters). Location is where to DELETE it.',
  headers: { Location: { type: 'string', description: 'The subscription\'s URL; DELETE it to unsubscribe.', 'x-ms-summary': 'Location' } },
}

/**
 * One webhook trigger, made of a catalogue entry: `POST <path>` subscribes to the entry's event type
 * with its filters; `DELETE <path>` and `POST <path>/unsubscribe` unsubscribe by callback.
 */
const webhookTrigger: FastifyPluginAsyncTypebox<TriggerOptions & { entry: CatalogueEntry }> = async (app, { entry, ...options }) => {
  const { path, operationId, summary, description, hint } = entry.trigger
  const body = triggerBody(entry)
  // The names of the unsubscribe operations, from the trigger's: WhenStockAdjusted → StockAdjusted.
  const subject = operationId.replace(/^When/, '')

  app.post(path, {
    schema: {
      operationId,
      tags: [CONNECTOR_TAG],
      summary,
      description,
      'x-ms-trigger': 'single',
      'x-ms-trigger-hint': hint,
      body,
      response: { 201: created, ...errorResponses(400, 401, 409, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    const { callbackUrl, ordered = false, ...filters } = request.body as TriggerBody
    try {
      await checkCallbackUrl(callbackUrl, options.callbackPolicy)
    } catch (error) {
      if (!(error instanceof CallbackRefusedError)) throw error
      request.log.info({ callback: redactUrl(callbackUrl), reason: error.message }, 'callback refused')
      throw new HttpError(400, error.message, 'CALLBACK_REFUSED')
    }
    const result = await app.subscriptions.subscribe({ tenantId: request.tenantId, eventType: entry.type, callbackUrl, filters, ordered, flow: flowInfo(request) })
    const { record } = result
    request.log.info({ subscriptionId: record.id, eventType: record.eventType, created: result.created, callback: record.callbackRedacted, flow: record.flow }, result.created ? 'subscribed' : 'subscribed again')
    const location = publicUrl(publicBase(request, options.publicBaseUrl), `/v1/subscriptions/${encodeURIComponent(record.id)}`)
    return reply.code(201).header('location', location).send(result.secret ? { ...subscriptionView(record), signingSecret: result.secret } : subscriptionView(record))
  })

  // Logic Apps' built-in HTTP Webhook trigger unsubscribes with a request of the workflow's own
  // choosing, carrying what it has: the callback URL (listCallbackUrl()) and the filters it subscribed
  // with. DELETE on the trigger with that body is the natural request; POST …/unsubscribe is the same
  // for clients that cannot send a body with DELETE. The callback stays in the body, never in a URL.
  const byCallback = [
    { method: 'DELETE', url: path, operationId: `Delete${subject}ByCallback` },
    { method: 'POST', url: `${path}/unsubscribe`, operationId: `Unsubscribe${subject}ByCallback` },
  ] as const
  for (const { method, url, operationId: unsubscribeId } of byCallback) {
    app.route({
      method,
      url,
      schema: {
        operationId: unsubscribeId,
        tags: ['subscriptions'],
        summary: 'Unsubscribe by callback URL',
        description: `Deletes the subscription to ${entry.type} with this callback URL and these filters, for the Logic Apps HTTP Webhook trigger.`,
        body,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...errorResponses(400, 401, 404, 413, 415, 429, 503) },
      },
      handler: async (request, reply) => {
        // How it was delivered does not tell subscriptions apart: the callback and the filters do.
        const { callbackUrl, ordered: _ordered, ...filters } = request.body as TriggerBody
        const id = await app.subscriptions.find(request.tenantId, entry.type, callbackUrl, filters)
        if (!id || !(await app.subscriptions.remove(request.tenantId, id))) {
          throw new HttpError(404, 'your tenant has no subscription with this callback URL and these filters (already deleted?)', 'SUBSCRIPTION_NOT_FOUND')
        }
        request.log.info({ subscriptionId: id, eventType: entry.type }, 'unsubscribed by callback')
        return reply.code(204).send()
      },
    })
  }
}

/** What the platforms call: a webhook trigger per event type and their unsubscribe (the store dropdown is routes/stores.ts). */
const trigger: FastifyPluginAsyncTypebox<TriggerOptions> = async (app, options) => {
  for (const entry of catalogue) await app.register(webhookTrigger, { ...options, entry })

  app.delete('/v1/subscriptions/:subscriptionId', {
    schema: {
      operationId: 'DeleteSubscription',
      tags: [CONNECTOR_TAG],
      summary: 'Delete a subscription',
      description: 'Stops the notifications of a subscription; the platform calls it when a flow is deleted or its trigger changes.',
      'x-ms-visibility': 'internal',
      params: SubscriptionParams,
      response: { 204: { type: 'null', description: 'Deleted.' }, ...errorResponses(400, 401, 404, 429, 503) },
    },
  }, async (request, reply) => {
    const { subscriptionId } = request.params
    if (!(await app.subscriptions.remove(request.tenantId, subscriptionId))) {
      throw new HttpError(404, `your tenant has no subscription ${subscriptionId} (already deleted?)`, 'SUBSCRIPTION_NOT_FOUND')
    }
    request.log.info({ subscriptionId }, 'unsubscribed')
    return reply.code(204).send()
  })
}

export default trigger
