import { randomBytes } from 'node:crypto'
import {
  GOODS_RECEIVED, redactUrl, sealingContext,
  type FlowInfo, type SecretBox, type SubscriptionFilters, type SubscriptionRecord,
} from '@arrivals/contracts'

/** `sub_` + 22 random base64url characters (128 bits). */
function newSubscriptionId(): string {
  return `sub_${randomBytes(16).toString('base64url')}`
}

/** A Standard Webhooks signing secret: `whsec_` + base64 of 24 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`
}

/** The URL as the WHATWG parser writes it: host case, default ports and dot segments do not matter. */
function canonicalCallback(url: string): string {
  return new URL(url).href
}

/** Filters in a fixed key order, absent ones left out: `{}` and `{ sku: undefined }` are the same. */
function canonicalFilters(filters: SubscriptionFilters): SubscriptionFilters {
  const ordered: SubscriptionFilters = {}
  if (filters.storeId !== undefined) ordered.storeId = filters.storeId
  if (filters.sku !== undefined) ordered.sku = filters.sku
  if (filters.minQuantity !== undefined) ordered.minQuantity = filters.minQuantity
  if (filters.reason !== undefined) ordered.reason = filters.reason
  return ordered
}

/**
 * What finds the existing subscription when the same flow subscribes again: a keyed hash of the
 * tenant, the canonical callback, the canonical filters and the event type (keyed, so it says nothing
 * about the URL). Goods received, the first event type, keeps the fingerprint it had before event
 * types existed, so the subscriptions stored then are found by a re-subscribe and an unsubscribe
 * without a migration; every other type adds its name.
 */
export function subscriptionFingerprint(
  box: SecretBox, tenantId: string, callbackUrl: string, filters: SubscriptionFilters, eventType: string = GOODS_RECEIVED,
): string {
  const typed = eventType === GOODS_RECEIVED ? '' : `\u0000${eventType}`
  return box.fingerprint(`${tenantId}\u0000${canonicalCallback(callbackUrl)}\u0000${JSON.stringify(canonicalFilters(filters))}${typed}`)
}

export interface NewSubscription {
  tenantId: string
  /** Already checked by callback-safety. */
  callbackUrl: string
  filters: SubscriptionFilters
  flow: FlowInfo
  /** The catalogue's event type this subscription receives; goods received when absent. */
  eventType?: string
  /** Deliver in order per store (stored only when true). */
  ordered?: boolean
  /** Given only when seeding (a benchmark); otherwise fresh random ones. */
  id?: string
  secret?: string
  now?: Date
}

/** A new active record, callback and secret sealed to it; the plaintext secret is answered once, here. */
export function newSubscriptionRecord(box: SecretBox, input: NewSubscription): { record: SubscriptionRecord; secret: string } {
  const { tenantId, callbackUrl, filters, flow, eventType = GOODS_RECEIVED } = input
  const id = input.id ?? newSubscriptionId()
  const secret = input.secret ?? newSigningSecret()
  const callback = canonicalCallback(callbackUrl)
  const now = (input.now ?? new Date()).toISOString()
  const record: SubscriptionRecord = {
    id,
    tenantId,
    eventType,
    callbackSealed: box.seal(callback, sealingContext.callback(tenantId, id)),
    callbackRedacted: redactUrl(callback),
    fingerprint: subscriptionFingerprint(box, tenantId, callbackUrl, filters, eventType),
    secretSealed: box.seal(secret, sealingContext.secret(tenantId, id)),
    filters: canonicalFilters(filters),
    status: 'active',
    flow,
    createdAt: now,
    updatedAt: now,
  }
  if (input.ordered === true) record.ordered = true
  return { record, secret }
}
