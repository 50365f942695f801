import { sealingContext, type FlowInfo, type SecretBox, type SubscriptionFilters, type SubscriptionRecord } from '@arrivals/contracts'
import {
  newSigningSecret, newSubscriptionRecord, QuotaExceededError, subscriptionFingerprint, type SubscriptionPage, type SubscriptionQuotas, type Subscriptions,
} from '@arrivals/subscription-registry'
import { HttpError } from '@arrivals/service-kit'

export interface SubscribeRequest {
  tenantId: string
  /** Already checked by callback-safety. */
  callbackUrl: string
  /** The catalogue's event type of the trigger subscribed to. */
  eventType: string
  filters: SubscriptionFilters
  flow: FlowInfo
  /** Deliver in order per store; a re-subscribe with another choice changes the subscription (the latest save wins). */
  ordered?: boolean
}

export interface SubscribeResult {
  record: SubscriptionRecord
  /** True when this request created it; the signing secret is only returned then. */
  created: boolean
  /** The plaintext signing secret, only when created. */
  secret?: string
}

/**
 * What the connector and operator routes do with a tenant's subscriptions: the domain half (ids,
 * secrets, sealing, fingerprints, what a re-subscribe means) over the registry, which stores them
 * atomically with the change signal the dispatcher listens to.
 */
export interface SubscriptionStore {
  subscribe(request: SubscribeRequest): Promise<SubscribeResult>
  get(tenantId: string, id: string): Promise<SubscriptionRecord | undefined>
  list(tenantId: string, options: { cursor?: string; limit: number }): Promise<SubscriptionPage>
  /** False when the tenant has no such subscription. */
  remove(tenantId: string, id: string): Promise<boolean>
  /** The id of the subscription to this event type with this callback and these filters, if the tenant has one. */
  find(tenantId: string, eventType: string, callbackUrl: string, filters: SubscriptionFilters): Promise<string | undefined>
  /** Active again (status 'active', disabledReason removed); undefined when it does not exist. */
  enable(tenantId: string, id: string): Promise<SubscriptionRecord | undefined>
  /** Disabled with this reason (kept as it was when already disabled); undefined when it does not exist. */
  disable(tenantId: string, id: string, reason: string): Promise<SubscriptionRecord | undefined>
  /** The operator's flow rate for this subscription (`<count>/<duration>` or `unlimited`), or undefined for the deployment's; undefined when it does not exist. */
  setFlowRateLimit(tenantId: string, id: string, limit: string | undefined): Promise<SubscriptionRecord | undefined>
  /** A new signing secret; the old one stops being used at once. */
  rotateSecret(tenantId: string, id: string): Promise<{ record: SubscriptionRecord; secret: string } | undefined>
}

/**
 * A full quota is 409: the tenant's subscriptions are in a state that does not allow one more until
 * some are deleted. Not 429, which tells Power Automate to retry, and retrying cannot help.
 */
async function withinQuota<T>(create: () => Promise<T>): Promise<T> {
  try {
    return await create()
  } catch (error) {
    if (error instanceof QuotaExceededError) throw new HttpError(409, error.message, 'QUOTA_EXCEEDED')
    throw error
  }
}

export function subscriptionStore(registry: Subscriptions, box: SecretBox, quotas?: SubscriptionQuotas): SubscriptionStore {
  const store: SubscriptionStore = {
    get: registry.get,
    list: registry.list,
    remove: registry.remove,
    enable: (tenantId, id) => registry.enable(tenantId, id),
    disable: (tenantId, id, reason) => registry.disable(tenantId, id, reason),

    async subscribe(request) {
      const { tenantId, flow } = request
      const { record: fresh, secret } = newSubscriptionRecord(box, request)
      const created = await withinQuota(() => registry.create(fresh, quotas))
      if (created.created) return { record: fresh, created: true, secret }

      // The same flow subscribing again (saved again, or the platform retrying): active again, and
      // the flow's current name and version kept, so an operator sees which flow owns it.
      // The delivery order is not part of what finds it (a flow saved with another choice is the same
      // flow): the latest save's choice is kept.
      const ordered = request.ordered === true
      const record = await registry.update(tenantId, created.id, (current) => {
        const flowChanged = JSON.stringify(current.flow) !== JSON.stringify({ ...current.flow, ...flow })
        const orderChanged = (current.ordered === true) !== ordered
        if (current.status === 'active' && !flowChanged && !orderChanged) return undefined
        const { disabledReason: _reason, disabledAt: _at, ordered: _ordered, ...rest } = current
        return { ...rest, status: 'active', flow: { ...current.flow, ...flow }, ...(ordered ? { ordered } : {}), updatedAt: new Date().toISOString() }
      })
      // Deleted between the two steps (a DELETE racing the re-subscribe): subscribe afresh.
      if (!record) return store.subscribe(request)
      return { record, created: false }
    },

    async find(tenantId, eventType, callbackUrl, filters) {
      if (!URL.canParse(callbackUrl)) return undefined
      return registry.idByFingerprint(tenantId, subscriptionFingerprint(box, tenantId, callbackUrl, filters, eventType))
    },

    setFlowRateLimit(tenantId, id, limit) {
      return registry.update(tenantId, id, (current) => {
        if (current.flowRateLimit === limit) return undefined
        const { flowRateLimit: _limit, ...rest } = current
        return { ...rest, ...(limit === undefined ? {} : { flowRateLimit: limit }), updatedAt: new Date().toISOString() }
      })
    },

    async rotateSecret(tenantId, id) {
      const secret = newSigningSecret()
      const record = await registry.update(tenantId, id, (current) => ({
        ...current,
        secretSealed: box.seal(secret, sealingContext.secret(tenantId, id)),
        updatedAt: new Date().toISOString(),
      }))
      return record ? { record, secret } : undefined
    },
  }
  return store
}
