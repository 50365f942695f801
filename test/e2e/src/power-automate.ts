import { randomBytes, randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { Webhook } from 'standardwebhooks'
import { startReceiver, type Receiver, type ReceivedRequest } from '@arrivals/test-kit'
import { readConnectorDefinition, type ConnectorDefinition, type ConnectorTrigger } from './connector-definition.js'

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as typeof addFormatsModule.default

/** Filters (and options such as "Deliver in order per store") a maker sets in the designer; the names must exist in the trigger's body schema. */
export type FlowFilters = Record<string, string | number | boolean>

/** One notification as the platform received it, checked the way the platform and a careful flow would. */
export interface Notification {
  flow: Flow
  webhookId: string
  payload: Record<string, unknown>
  /** Empty when the body matches the connector's x-ms-notification-content schema. */
  schemaErrors: string[]
  /** Undefined when the Standard Webhooks signature verified with the flow's secret. */
  signatureError: string | undefined
  /** What the platform answered. */
  status: number | 'hung'
  receivedAt: number
  /** The `traceparent` header as received (an array if it came more than once). */
  traceparent: string | string[] | undefined
}

/** What the platform answers a notification for a flow: a status code (with a Retry-After), or never (a hanging endpoint). */
export type Answer = number | 'hang' | { status: number; retryAfter: string }

/** Requests that reached the platform but no live flow (a deleted flow, a wrong signature). */
export interface StrayRequest {
  path: string
  reason: string
  webhookId: string | undefined
}

const AZURE_SUBSCRIPTION_ID = randomUUID()

/**
 * A stand-in for Power Automate, written from Microsoft's documentation of webhook triggers and
 * reading ONLY the connector definition the subscriptions service serves. Saving a flow POSTs the
 * trigger with this platform's own callback URL (with a SAS-like `sig`); deleting the flow DELETEs
 * the Location it was given; saving it again is a DELETE and a new POST. Every notification is
 * validated against `x-ms-notification-content` and its signature verified with `standardwebhooks`.
 */
export class PowerAutomate {
  readonly flows = new Map<string, Flow>()
  readonly notifications: Notification[] = []
  readonly strays: StrayRequest[] = []
  /** Per trigger path: the check of its x-ms-notification-content. */
  private readonly validators = new Map<string, ValidateFunction>()
  private readonly hanging = new Set<ServerResponse>()

  private constructor(
    readonly connector: ConnectorDefinition,
    private readonly receiver: Receiver,
  ) {
    const ajv = new Ajv({ strict: false, allErrors: true })
    addFormats(ajv)
    for (const trigger of connector.triggers) this.validators.set(trigger.path, ajv.compile(trigger.notificationSchema))
    receiver.setHandler((request, response) => this.receive(request, response))
  }

  /** Imports the connector from the definition the subscriptions service serves. */
  static async start(subscriptionsUrl: string): Promise<PowerAutomate> {
    const response = await fetch(`${subscriptionsUrl}/connector/apiDefinition.swagger.json`)
    if (response.status !== 200) throw new Error(`GET /connector/apiDefinition.swagger.json answered ${response.status}`)
    const connector = readConnectorDefinition(await response.json() as Record<string, unknown>)
    return new PowerAutomate(connector, await startReceiver())
  }

  /** The platform's callback endpoint, like `https://prod-NN.<region>.logic.azure.com`. */
  get callbackBase(): string {
    return this.receiver.url
  }

  /**
   * Saves a new flow on a connection made with this API key, with the trigger the maker picked by its
   * name in the designer (the connector's first trigger when not given).
   */
  async saveFlow(options: { apiKey: string; trigger?: string; name?: string; filters?: FlowFilters; answer?: (notification: Notification) => Answer }): Promise<Flow> {
    const trigger = this.connector.trigger(options.trigger)
    const flow = new Flow(this, trigger, options.apiKey, options.name ?? `Flow ${this.flows.size + 1}`, options.filters ?? {})
    if (options.answer) flow.answer = options.answer
    this.flows.set(flow.workflowId, flow)
    await flow.subscribe()
    return flow
  }

  /** Notifications of every flow, as (eventId, flow) → the webhook-ids seen. */
  receivedByFlow(): Map<Flow, Map<string, string[]>> {
    const result = new Map<Flow, Map<string, string[]>>()
    for (const notification of this.notifications) {
      const events = result.get(notification.flow) ?? new Map<string, string[]>()
      result.set(notification.flow, events)
      const eventId = String(notification.payload.eventId)
      events.set(eventId, [...(events.get(eventId) ?? []), notification.webhookId])
    }
    return result
  }

  /** Every notification that failed the schema or the signature check, described. */
  invalidNotifications(): string[] {
    return this.notifications
      .filter((n) => n.schemaErrors.length > 0 || n.signatureError !== undefined)
      .map((n) => `${n.flow.name} ${n.webhookId}: ${[...n.schemaErrors, n.signatureError].filter(Boolean).join('; ')}`)
  }

  async close(): Promise<void> {
    for (const response of this.hanging) response.destroy()
    await this.receiver.close()
  }

  private receive(request: ReceivedRequest, response: ServerResponse): void {
    const url = new URL(request.path, this.callbackBase)
    const workflowId = /^\/workflows\/([^/]+)\/triggers\/manual\/paths\/invoke$/.exec(url.pathname)?.[1]
    const flow = workflowId ? this.flows.get(workflowId) : undefined
    const webhookId = header(request, 'webhook-id')
    if (!flow || !flow.live) {
      this.strays.push({ path: url.pathname, reason: flow ? `flow "${flow.name}" was deleted` : 'no such workflow', webhookId })
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"WorkflowNotFound"}}')
      return
    }
    if (url.searchParams.get('sig') !== flow.sig || request.method !== 'POST') {
      this.strays.push({ path: url.pathname, reason: request.method !== 'POST' ? `method ${request.method}` : 'wrong sig', webhookId })
      response.writeHead(401).end()
      return
    }
    let payload: Record<string, unknown> = {}
    const schemaErrors: string[] = []
    try {
      payload = JSON.parse(request.body) as Record<string, unknown>
      // Checked against the schema of the flow's own trigger: another type's notification fails it.
      const validate = this.validators.get(flow.trigger.path)!
      if (!validate(payload)) {
        schemaErrors.push(...(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`))
      }
    } catch {
      schemaErrors.push('body is not JSON')
    }
    let signatureError: string | undefined
    try {
      new Webhook(flow.secret).verify(request.body, {
        'webhook-id': webhookId ?? '',
        'webhook-timestamp': header(request, 'webhook-timestamp') ?? '',
        'webhook-signature': header(request, 'webhook-signature') ?? '',
      })
    } catch (error) {
      signatureError = `signature: ${(error as Error).message}`
    }
    const notification: Notification = {
      flow, webhookId: webhookId ?? '', payload, schemaErrors, signatureError, status: 202, receivedAt: request.receivedAt,
      traceparent: request.headers.traceparent,
    }
    // A run is only started for a valid notification; anything else is the platform's 400.
    const answer: Answer = schemaErrors.length || signatureError ? 400 : flow.answer(notification)
    notification.status = answer === 'hang' ? 'hung' : typeof answer === 'number' ? answer : answer.status
    this.notifications.push(notification)
    flow.notifications.push(notification)
    if (answer === 'hang') {
      this.hanging.add(response)
      response.once('close', () => this.hanging.delete(response))
      return
    }
    const code = typeof answer === 'number' ? answer : answer.status
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (typeof answer === 'object') headers['retry-after'] = answer.retryAfter
    response.writeHead(code, headers).end(code < 300 ? '' : '{"error":{"code":"TriggerFailed"}}')
  }
}

function header(request: ReceivedRequest, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** One flow with one of the connector's triggers. */
export class Flow {
  readonly workflowId = randomUUID().replaceAll('-', '')
  readonly notifications: Notification[] = []
  /** The SAS signature of this flow's callback URL: stable across saves, like the platform's. */
  readonly sig = randomBytes(32).toString('base64url')
  location = ''
  subscriptionId = ''
  secret = ''
  live = false
  /** The platform starts a run and answers 202 Accepted, unless a test says otherwise. */
  answer: (notification: Notification) => Answer = () => 202

  constructor(
    private readonly platform: PowerAutomate,
    readonly trigger: ConnectorTrigger,
    readonly apiKey: string,
    readonly name: string,
    public filters: FlowFilters,
  ) {}

  get callbackUrl(): string {
    const query = new URLSearchParams({ 'api-version': '2016-06-01', sp: '/triggers/manual/run', sv: '1.0', sig: this.sig })
    return `${this.platform.callbackBase}/workflows/${this.workflowId}/triggers/manual/paths/invoke?${query}`
  }

  /** The subscribe request the platform sends when the flow is saved; expects 201 + Location. */
  async subscribe(): Promise<void> {
    const connector = this.platform.connector
    const { trigger } = this
    for (const [name, value] of Object.entries(this.filters)) {
      if (!trigger.filterProperties.includes(name)) {
        throw new Error(`the designer offers no "${name}" on "${trigger.summary}"; it offers ${trigger.filterProperties.join(', ')}`)
      }
      const choices = trigger.filterChoices[name]
      if (choices && !choices.includes(value)) throw new Error(`the "${name}" dropdown of "${trigger.summary}" offers ${choices.join(', ')}, not ${value}`)
    }
    this.live = true
    const response = await this.request('POST', `${connector.apiBase}${trigger.path}`, {
      [trigger.notificationProperty]: this.callbackUrl,
      ...this.filters,
    }, {
      'x-ms-workflow-id': this.workflowId,
      'x-ms-workflow-name': this.workflowId,
      'x-ms-workflow-version': randomBytes(8).toString('hex'),
      'x-ms-workflow-operation-name': trigger.summary.replaceAll(' ', '_'),
      'x-ms-environment-id': 'Default-00000000-0000-0000-0000-000000000001',
      'x-ms-workflow-subscription-id': AZURE_SUBSCRIPTION_ID,
      'x-ms-trigger-type': 'OpenApiConnectionWebhook',
    })
    const text = await response.text()
    if (response.status !== 201) {
      this.live = false
      throw new Error(`saving flow "${this.name}": the trigger answered ${response.status} ${text}`)
    }
    const location = response.headers.get('location') ?? ''
    if (!URL.canParse(location)) throw new Error(`saving flow "${this.name}": Location must be an absolute URL, got "${location}"`)
    const url = new URL(location)
    if (url.host !== connector.host) throw new Error(`Location ${location} is not on the connector's host ${connector.host}`)
    if (!connector.unsubscribe.matches(url.pathname)) {
      throw new Error(`Location ${url.pathname} matches no internal DELETE operation (${connector.unsubscribe.path})`)
    }
    this.location = location
    this.subscriptionId = decodeURIComponent(url.pathname.split('/').pop() ?? '')
    const body = text ? JSON.parse(text) as unknown : {}
    this.secret = findSigningSecret(body) ?? this.secret
    if (!this.secret) throw new Error(`saving flow "${this.name}": the 201 body carries no whsec_ signing secret`)
  }

  /** What the platform does when the flow is deleted or its trigger changes: DELETE the Location. */
  async unsubscribe(): Promise<number> {
    this.live = false
    const response = await this.request('DELETE', this.location)
    await response.body?.cancel()
    if (![200, 202, 204, 404].includes(response.status)) throw new Error(`DELETE ${this.location} answered ${response.status}`)
    return response.status
  }

  /** Saving an edited flow: the old subscription is deleted, a new one made (with a new callback URL). */
  async resave(filters: FlowFilters = this.filters): Promise<void> {
    await this.unsubscribe()
    this.filters = filters
    await this.subscribe()
  }

  async delete(): Promise<number> {
    return this.unsubscribe()
  }

  private request(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(url, {
      method,
      headers: {
        [this.platform.connector.apiKeyHeader]: this.apiKey,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    })
  }
}

/** The subscribe answer shows the signing secret once; its field name is the service's business. */
function findSigningSecret(node: unknown): string | undefined {
  if (typeof node === 'string') return node.startsWith('whsec_') ? node : undefined
  if (typeof node !== 'object' || node === null) return undefined
  for (const value of Object.values(node)) {
    const found = findSigningSecret(value)
    if (found) return found
  }
  return undefined
}
