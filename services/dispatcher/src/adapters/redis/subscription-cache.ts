import { matchesFilters, sealingContext, type ArrivalsEvent, type CatalogueEntry, type SecretBox, type SubscriptionRecord } from '@arrivals/contracts'
import type { ChangeWatch, Subscriptions } from '@arrivals/subscription-registry'
import type { Log, Subscription, SubscriptionLookup, SubscriptionMatcher, SubscriptionView } from '../../ports.js'
import { signingKey } from '../signing.js'

interface TenantSubscriptions {
  version: string | null
  checkedAt: number
  byId: Map<string, Subscription>
  /** Ids looked up one by one and not found at this version (tasks of a deleted subscription). */
  missing: Set<string>
  /** Active subscriptions indexed by their storeId filter, so matching never walks the whole tenant. */
  byStore: Map<string, Subscription[]>
  /** Active subscriptions without a storeId filter: they see every store. */
  anyStore: Subscription[]
}

interface SubscriptionCacheOptions {
  /** The registry's reads: the version, the tenant in pages, one record, and the change signal. */
  subscriptions: Pick<Subscriptions, 'version' | 'scan' | 'getStored' | 'watch'>
  box: SecretBox
  log: Log
  /** How long a tenant's cached subscriptions are used before their version is checked again. */
  recheckMs?: number
}

/** How many 410'd subscription ids a process remembers (oldest forgotten first). */
const GONE_REMEMBERED = 10_000

function lazy<T>(open: () => T): () => T {
  let value: T | undefined
  return () => (value ??= open())
}

/**
 * Per-tenant cache of subscriptions, read through the registry. A tenant's records are loaded (its
 * version, then the registry's HSCAN pages) the first time an event or task of that tenant needs them,
 * then served from memory. Every change signals the tenant (`watch`) and drops that tenant's entry;
 * in case a signal is lost, the version is compared at most every `recheckMs`, and every entry is
 * dropped when the watch (re)subscribes. Matching an event costs the number of the tenant's
 * subscriptions for the event's store, never the number of subscriptions in all.
 */
export class SubscriptionCache implements SubscriptionMatcher, SubscriptionLookup {
  private readonly tenants = new Map<string, TenantSubscriptions>()
  private readonly loading = new Map<string, Promise<TenantSubscriptions>>()
  private readonly recheckMs: number
  private generation = 0
  /** Subscriptions this process saw answered with 410 Gone: never sent to again, even by attempts already past `find`. */
  private readonly gone = new Set<string>()

  constructor(private readonly options: SubscriptionCacheOptions) {
    this.recheckMs = options.recheckMs ?? 1_000
  }

  /** Follows the registry's change signal until closed (a test's cache may rely on version checks alone). */
  watch(onError: (error: Error) => void): ChangeWatch {
    return this.options.subscriptions.watch(({ tenantId }) => this.invalidate(tenantId), { onError })
  }

  invalidate(tenantId?: string): void {
    this.generation += 1
    if (tenantId === undefined) {
      this.tenants.clear()
      this.loading.clear()
    } else {
      this.tenants.delete(tenantId)
      this.loading.delete(tenantId)
    }
  }

  /**
   * Forgets a subscription at once, before Redis and the change signal catch up: matching and lookups
   * skip it, and attempts that already hold it (waiting for a send slot) check `isGone` just before
   * sending. The tenant's cached records are left as they are; the change signal that the removal
   * publishes reloads them. Ids are random and never reused, so the set is bounded, not expired.
   */
  markGone(subscriptionId: string): void {
    if (this.gone.size >= GONE_REMEMBERED) this.gone.delete(this.gone.values().next().value!)
    this.gone.add(subscriptionId)
  }

  isGone(subscriptionId: string): boolean {
    return this.gone.has(subscriptionId)
  }

  /** Active subscriptions of the event's tenant whose filters match it. */
  async match(tenantId: string, event: ArrivalsEvent, entry: CatalogueEntry): Promise<Subscription[]> {
    const tenant = await this.tenant(tenantId)
    const data = event.data as unknown as Record<string, unknown>
    const candidates = [...(tenant.byStore.get(event.data.storeId) ?? []), ...tenant.anyStore]
    // A subscription receives only the event type of the trigger it was made with.
    return candidates.filter(({ record }) =>
      record.eventType === event.type && !this.gone.has(record.id) && matchesFilters(entry, record.filters, data))
  }

  /**
   * One subscription. When the cached tenant does not have it (created a moment ago, or deleted), the
   * one record is read (`getStored`), never the whole tenant again; a miss is remembered until the next change.
   */
  async find(tenantId: string, subscriptionId: string): Promise<Subscription | undefined> {
    if (this.gone.has(subscriptionId)) return undefined
    const tenant = await this.tenant(tenantId)
    const found = tenant.byId.get(subscriptionId)
    if (found || tenant.missing.has(subscriptionId)) return found
    const json = await this.options.subscriptions.getStored(tenantId, subscriptionId)
    const subscription = json === undefined ? undefined : this.view(tenantId, subscriptionId, json)
    if (!subscription) {
      tenant.missing.add(subscriptionId)
      return undefined
    }
    // It exists but this copy of the tenant is older: load the tenant afresh next time.
    this.tenants.delete(tenantId)
    return subscription
  }

  private async tenant(tenantId: string): Promise<TenantSubscriptions> {
    const cached = this.tenants.get(tenantId)
    if (cached && Date.now() - cached.checkedAt < this.recheckMs) return cached
    let pending = this.loading.get(tenantId)
    if (!pending) {
      pending = this.refresh(tenantId, cached).finally(() => {
        if (this.loading.get(tenantId) === pending) this.loading.delete(tenantId)
      })
      this.loading.set(tenantId, pending)
    }
    return pending
  }

  private async refresh(tenantId: string, cached: TenantSubscriptions | undefined): Promise<TenantSubscriptions> {
    const generation = this.generation
    const { subscriptions } = this.options
    if (cached) {
      const version = await subscriptions.version(tenantId)
      if (version === cached.version) {
        cached.checkedAt = Date.now()
        return cached
      }
    }
    // The version is read first: a change during the scan bumps it, so the next check reloads.
    const version = await subscriptions.version(tenantId)
    const now = Date.now()
    const tenant: TenantSubscriptions = { version, checkedAt: now, byId: new Map(), byStore: new Map(), anyStore: [], missing: new Set() }
    // In pages as stored, each checked here: a tenant with 100,000 subscriptions is never one reply.
    for await (const page of subscriptions.scan(tenantId)) for (const [id, json] of page) this.add(tenant, tenantId, id, json)
    // An invalidation that arrived while this load was in flight wins: the next event loads again.
    if (generation === this.generation) this.tenants.set(tenantId, tenant)
    return tenant
  }

  /** Parses and checks one stored record; undefined (with a warning) when it cannot be used. */
  private view(tenantId: string, id: string, json: string): Subscription | undefined {
    let record: SubscriptionRecord
    try {
      record = JSON.parse(json) as SubscriptionRecord
    } catch {
      this.options.log.warn({ tenantId, subscriptionId: id }, 'subscription record is not JSON; ignored')
      return undefined
    }
    // The record's own tenant and id must be the ones it is filed under (they are the sealing context).
    if (record.id !== id || record.tenantId !== tenantId || typeof record.callbackSealed !== 'string' || typeof record.secretSealed !== 'string') {
      this.options.log.warn({ tenantId, subscriptionId: id }, 'subscription record does not match its key; ignored')
      return undefined
    }
    const { box } = this.options
    const { callbackSealed, secretSealed } = record
    const view: SubscriptionView = {
      id,
      tenantId,
      eventType: record.eventType,
      callbackRedacted: record.callbackRedacted,
      filters: record.filters ?? {},
      status: record.status,
    }
    if (record.disabledReason !== undefined) view.disabledReason = record.disabledReason
    if (record.ordered === true) view.ordered = true
    if (record.flowRateLimit !== undefined) view.flowRateLimit = record.flowRateLimit
    return {
      record: view,
      callbackUrl: lazy(() => box.open(callbackSealed, sealingContext.callback(tenantId, id))),
      signingKey: lazy(() => signingKey(box.open(secretSealed, sealingContext.secret(tenantId, id)))),
    }
  }

  private add(tenant: TenantSubscriptions, tenantId: string, id: string, json: string): void {
    const subscription = this.view(tenantId, id, json)
    if (!subscription) return
    tenant.byId.set(id, subscription)
    if (subscription.record.status !== 'active') return
    const store = subscription.record.filters.storeId
    if (store === undefined) tenant.anyStore.push(subscription)
    else {
      const list = tenant.byStore.get(store)
      if (list) list.push(subscription)
      else tenant.byStore.set(store, [subscription])
    }
  }
}
