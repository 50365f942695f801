import { randomBytes } from 'node:crypto'
import {
  GOODS_RECEIVED, redactUrl, sealingContext,
  type FlowInfo, type SecretBox, type SubscriptionFilters, type SubscriptionRecord,
} from '@arrivals/contracts'
import type { SubscriptionPage, Subscriptions } from '@arrivals/subscription-registry'

export interface SubscribeRequest {
  tenantId: string
  /** Already checked by callback-safety. */
  callbackUrl: string
  filters: SubscriptionFilters
  flow: FlowInfo
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
  /** The id of the subscription with this callback and these filters, if the tenant has one. */
  find(tenantId: string, callbackUrl: string, filters: SubscriptionFilters): Promise<string | undefined>
  /** Active again (status 'active', disabledReason removed); undefined when it does not exist. */
  enable(tenantId: string, id: string): Promise<SubscriptionRecord | undefined>
  /** A new signing secret; the old one stops being used at once. */
  rotateSecret(tenantId: string, id: string): Promise<{ record: SubscriptionRecord; secret: string } | undefined>
}

/** `sub_` + 22 random base64url characters (128 bits). */
export function newSubscriptionId(): string {
  return `sub_${randomBytes(16).toString('base64url')}`
}

/** A Standard Webhooks signing secret: `whsec_` + base64 of 24 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`
}

/** The URL as the WHATWG parser writes it: host case, default ports and dot segments do not matter. */
export function canonicalCallback(url: string): string {
  return new URL(url).href
}

/** Filters in a fixed key order, absent ones left out: `{}` and `{ sku: undefined }` are the same. */
export function canonicalFilters(filters: SubscriptionFilters): string {
  const ordered: SubscriptionFilters = {}
  if (filters.storeId !== undefined) ordered.storeId = filters.storeId
  if (filters.sku !== undefined) ordered.sku = filters.sku
  if (filters.minQuantity !== undefined) ordered.minQuantity = filters.minQuantity
  return JSON.stringify(ordered)
}

export function subscriptionStore(registry: Subscriptions, box: SecretBox): SubscriptionStore {
  function fingerprintOf(tenantId: string, callbackUrl: string, filters: SubscriptionFilters): string {
    return box.fingerprint(`${tenantId}\u0000${canonicalCallback(callbackUrl)}\u0000${canonicalFilters(filters)}`)
  }

  const store: SubscriptionStore = {
    get: registry.get,
    list: registry.list,
    remove: registry.remove,
    enable: (tenantId, id) => registry.enable(tenantId, id),

    async subscribe({ tenantId, callbackUrl, filters, flow }) {
      const callback = canonicalCallback(callbackUrl)
      const id = newSubscriptionId()
      const secret = newSigningSecret()
      const now = new Date().toISOString()
      const fresh: SubscriptionRecord = {
        id,
        tenantId,
        eventType: GOODS_RECEIVED,
        callbackSealed: box.seal(callback, sealingContext.callback(tenantId, id)),
        callbackRedacted: redactUrl(callback),
        fingerprint: fingerprintOf(tenantId, callbackUrl, filters),
        secretSealed: box.seal(secret, sealingContext.secret(tenantId, id)),
        filters: JSON.parse(canonicalFilters(filters)) as SubscriptionFilters,
        status: 'active',
        flow,
        createdAt: now,
        updatedAt: now,
      }
      const created = await registry.create(fresh)
      if (created.created) return { record: fresh, created: true, secret }

      // The same flow subscribing again (saved again, or the platform retrying): active again, and
      // the flow's current name and version kept, so an operator sees which flow owns it.
      const record = await registry.update(tenantId, created.id, (current) => {
        const flowChanged = JSON.stringify(current.flow) !== JSON.stringify({ ...current.flow, ...flow })
        if (current.status === 'active' && !flowChanged) return undefined
        const { disabledReason: _reason, disabledAt: _at, ...rest } = current
        return { ...rest, status: 'active', flow: { ...current.flow, ...flow }, updatedAt: new Date().toISOString() }
      })
      // Deleted between the two steps (a DELETE racing the re-subscribe): subscribe afresh.
      if (!record) return store.subscribe({ tenantId, callbackUrl, filters, flow })
      return { record, created: false }
    },

    async find(tenantId, callbackUrl, filters) {
      if (!URL.canParse(callbackUrl)) return undefined
      return registry.idByFingerprint(tenantId, fingerprintOf(tenantId, callbackUrl, filters))
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
