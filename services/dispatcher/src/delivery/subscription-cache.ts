import { sealingContext, type GoodsReceivedEvent, type RedisKeys, type SecretBox, type SubscriptionRecord } from '@arrivals/contracts'
import type { Redis } from 'ioredis'
import type { Log } from './log.js'
import { signingKey } from './signing.js'

/** A subscription as the dispatcher holds it: the record, and its secrets opened only when first needed. */
export interface CachedSubscription {
  record: SubscriptionRecord
  /** The callback URL (opened on first use, then kept in memory). */
  callbackUrl(): string
  /** The HMAC key from the `whsec_` secret (opened on first use). */
  signingKey(): Buffer
}

interface TenantSubscriptions {
  version: string | null
  loadedAt: number
  checkedAt: number
  byId: Map<string, CachedSubscription>
  /** Active subscriptions indexed by their storeId filter, so matching never walks the whole tenant. */
  byStore: Map<string, CachedSubscription[]>
  /** Active subscriptions without a storeId filter: they see every store. */
  anyStore: CachedSubscription[]
}

export interface SubscriptionCacheOptions {
  redis: Redis
  keys: RedisKeys
  box: SecretBox
  log: Log
  /** How long a tenant's cached subscriptions are used before their version is checked again. */
  recheckMs?: number
}

function lazy<T>(open: () => T): () => T {
  let value: T | undefined
  return () => (value ??= open())
}

/**
 * Per-tenant cache of subscriptions. A tenant's records are loaded with one MULTI (version +
 * HGETALL) the first time an event or task of that tenant needs them, then served from memory.
 * A change anywhere PUBLISHes the tenant id on `subscriptionsChanged` and drops that tenant's entry;
 * in case a message is lost (a reconnect), the version is compared at most every `recheckMs`, and
 * every entry is dropped when the subscriber reconnects. Matching an event costs the number of the
 * tenant's subscriptions for the event's store, never the number of subscriptions in all.
 */
export class SubscriptionCache {
  private readonly tenants = new Map<string, TenantSubscriptions>()
  private readonly loading = new Map<string, Promise<TenantSubscriptions>>()
  private readonly recheckMs: number
  private generation = 0

  constructor(private readonly options: SubscriptionCacheOptions) {
    this.recheckMs = options.recheckMs ?? 1_000
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

  /** Active subscriptions of the event's tenant whose filters match it. */
  async match(tenantId: string, event: GoodsReceivedEvent): Promise<CachedSubscription[]> {
    const tenant = await this.tenant(tenantId)
    const { data } = event
    const candidates = [...(tenant.byStore.get(data.storeId) ?? []), ...tenant.anyStore]
    return candidates.filter(({ record }) => {
      if (record.eventType !== event.type) return false
      const { sku, minQuantity } = record.filters
      if (sku !== undefined && !data.items.some((item) => item.sku === sku)) return false
      if (minQuantity !== undefined && data.totalQuantity < minQuantity) return false
      return true
    })
  }

  /** One subscription, reloading the tenant once when it is not there (created a moment ago). */
  async find(tenantId: string, subscriptionId: string): Promise<CachedSubscription | undefined> {
    let tenant = await this.tenant(tenantId)
    const found = tenant.byId.get(subscriptionId)
    if (found || Date.now() - tenant.loadedAt < 50) return found
    this.invalidate(tenantId)
    tenant = await this.tenant(tenantId)
    return tenant.byId.get(subscriptionId)
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
    const { redis, keys } = this.options
    if (cached) {
      const version = await redis.get(keys.version(tenantId))
      if (version === cached.version) {
        cached.checkedAt = Date.now()
        return cached
      }
    }
    const results = await redis.multi().get(keys.version(tenantId)).hgetall(keys.subscriptions(tenantId)).exec()
    if (!results) throw new Error('redis aborted the subscriptions read')
    const [[versionError, version], [hashError, hash]] = results as [[Error | null, string | null], [Error | null, Record<string, string>]]
    if (versionError ?? hashError) throw (versionError ?? hashError)!
    const tenant = this.index(tenantId, version, hash)
    // An invalidation that arrived while this load was in flight wins: the next event loads again.
    if (generation === this.generation) this.tenants.set(tenantId, tenant)
    return tenant
  }

  private index(tenantId: string, version: string | null, hash: Record<string, string>): TenantSubscriptions {
    const now = Date.now()
    const tenant: TenantSubscriptions = { version, loadedAt: now, checkedAt: now, byId: new Map(), byStore: new Map(), anyStore: [] }
    const { box } = this.options
    for (const [id, json] of Object.entries(hash)) {
      let record: SubscriptionRecord
      try {
        record = JSON.parse(json) as SubscriptionRecord
      } catch {
        this.options.log.warn({ tenantId, subscriptionId: id }, 'subscription record is not JSON; ignored')
        continue
      }
      // The record's own tenant and id must be the ones it is filed under (they are the sealing context).
      if (record.id !== id || record.tenantId !== tenantId || typeof record.callbackSealed !== 'string' || typeof record.secretSealed !== 'string') {
        this.options.log.warn({ tenantId, subscriptionId: id }, 'subscription record does not match its key; ignored')
        continue
      }
      record.filters ??= {}
      const subscription: CachedSubscription = {
        record,
        callbackUrl: lazy(() => box.open(record.callbackSealed, sealingContext.callback(tenantId, id))),
        signingKey: lazy(() => signingKey(box.open(record.secretSealed, sealingContext.secret(tenantId, id)))),
      }
      tenant.byId.set(id, subscription)
      if (record.status !== 'active') continue
      const store = record.filters.storeId
      if (store === undefined) tenant.anyStore.push(subscription)
      else {
        const list = tenant.byStore.get(store)
        if (list) list.push(subscription)
        else tenant.byStore.set(store, [subscription])
      }
    }
    return tenant
  }
}
