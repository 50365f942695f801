import { matchesFilters, sealingContext, type ArrivalsEvent, type CatalogueEntry, type SecretBox, type SubscriptionRecord } from '@arrivals/contracts'
import type { ChangeWatch, Subscriptions, SubscriptionsChanged } from '@arrivals/subscription-registry'
import type { Log, Subscription, SubscriptionLookup, SubscriptionMatcher, SubscriptionView } from '../../ports.js'
import { signingKey } from '../signing.js'

interface SubscriptionCacheOptions {
  /** The registry's reads: the index of one store, records by id, the version, and the change signal. */
  subscriptions: Pick<Subscriptions, 'candidates' | 'ensureIndexed' | 'getStored' | 'getStoredMany' | 'version' | 'watch'>
  box: SecretBox
  log: Log
  /** Most subscriptions (and as many per-store index entries) kept in memory; the least recently used go first. */
  size?: number
  /** Without a live change signal, how long a tenant's entries are used before its version is checked again. */
  recheckMs?: number
}

/** How many 410'd subscription ids a process remembers (oldest forgotten first). */
const GONE_REMEMBERED = 10_000

/**
 * A map that keeps at most `size` entries, the least recently used forgotten first, approximately and in
 * O(1): entries live in a young generation until it holds half of `size`, then it becomes the old one
 * (the previous old one is dropped whole); an entry read from the old generation moves back to the young.
 * (A single Map with delete-and-set per hit made every eviction walk the deleted slots at its front.)
 */
class Lru<V> {
  private young = new Map<string, V>()
  private old = new Map<string, V>()
  private readonly half: number
  constructor(size: number, private readonly onEvict?: (value: V) => void) {
    this.half = Math.max(1, Math.floor(size / 2))
  }

  get(key: string): V | undefined {
    const value = this.young.get(key)
    if (value !== undefined) return value
    const aging = this.old.get(key)
    if (aging !== undefined) {
      this.old.delete(key)
      this.set(key, aging)
    }
    return aging
  }

  set(key: string, value: V): void {
    this.old.delete(key)
    this.young.set(key, value)
    if (this.young.size >= this.half) {
      if (this.onEvict) for (const evicted of this.old.values()) this.onEvict(evicted)
      this.old = this.young
      this.young = new Map()
    }
  }

  delete(key: string): void {
    this.young.delete(key)
    this.old.delete(key)
  }

  /** Drops every key that starts with `prefix` (a tenant's): a walk over at most `size` keys, for rare tenant-wide changes. */
  deletePrefix(prefix: string): void {
    for (const map of [this.young, this.old]) for (const key of map.keys()) if (key.startsWith(prefix)) map.delete(key)
  }

  clear(): void {
    this.young.clear()
    this.old.clear()
  }

  get count(): number {
    return this.young.size + this.old.size
  }
}

/** Opens once on first use; the opener (and the sealed value it holds) is let go once it has run. */
function lazy<T>(open: () => T): () => T {
  let opener: (() => T) | undefined = open
  let value: T | undefined
  return () => {
    if (opener) {
      value = opener()
      opener = undefined
    }
    return value!
  }
}

/** An index entry as held: the ids, and beside each its key in the subscriptions cache (made once, not per event). */
interface IndexEntry {
  ids: string[]
  keys: string[]
}

/** Stands for "looked up, not there" in the subscriptions cache (a task of a deleted subscription). */
const MISSING = null

const subscriptionKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`
const indexKey = (tenantId: string, eventType: string, storeId: string | undefined) => `${tenantId}\u0000${eventType}\u0000${storeId ?? ''}`

/**
 * The subscriptions this replica uses, read on demand through the registry's per-store index and kept
 * in two bounded LRUs: opened subscriptions by id (their secrets opened on first use, then kept while
 * cached), and the index entries (tenant, event type, store → ids) recently matched. What it holds is
 * bounded by `size`, not by how many subscriptions exist; matching an event reads at most its store's
 * and the every-store index entries (one round trip on a miss), never the tenant.
 *
 * A change signal names one subscription and its store: that subscription and that store's entry are
 * dropped, nothing else, so a tenant whose subscriptions churn reloads only what changed. A signal that
 * names only a tenant (a bulk import) drops that tenant's entries; "start afresh" (after the watch
 * (re)subscribes) drops all. Without a live watch (lost, or never started), a tenant's version is
 * compared at most every `recheckMs` and a change drops its entries. A load that a change of its
 * tenant overtakes answers its caller but is not kept.
 */
export class SubscriptionCache implements SubscriptionMatcher, SubscriptionLookup {
  private readonly subscriptions: Lru<Subscription | typeof MISSING>
  private readonly indexes: Lru<IndexEntry>
  /** The version seen per tenant and when, used only while no change signal is followed. */
  private readonly versions: Lru<{ version: string | null; checkedAt: number }>
  /** Tenants whose index this process made sure of (a backfill runs at most once per tenant and process). */
  private readonly indexed: Lru<Promise<void>>
  /** Per tenant, the stamp of its latest change; loads started before it are not kept. */
  private readonly changedAt: Lru<number>
  private forgottenChangeStamp = 0
  private stamp = 0
  private watching = false
  private readonly recheckMs: number
  /** Subscriptions this process saw answered with 410 Gone: never sent to again, even by attempts already past `find`. */
  private readonly gone = new Set<string>()

  constructor(private readonly options: SubscriptionCacheOptions) {
    const size = options.size ?? 10_000
    this.subscriptions = new Lru(size)
    this.indexes = new Lru(size)
    this.versions = new Lru(size)
    this.indexed = new Lru(size)
    // A tenant's change stamp that is forgotten still counts: loads older than it are not kept.
    this.changedAt = new Lru(size, (stamp) => {
      this.forgottenChangeStamp = Math.max(this.forgottenChangeStamp, stamp)
    })
    this.recheckMs = options.recheckMs ?? 1_000
  }

  /** Follows the registry's change signal until closed (a test's cache may rely on version checks alone). */
  watch(onError: (error: Error) => void): ChangeWatch {
    const watch = this.options.subscriptions.watch((change) => this.changed(change), {
      onError,
      // Signals may be missed from now on: start afresh, then rely on version checks until subscribed again.
      onLost: () => this.forgetAll(false),
    })
    return {
      close: async () => {
        this.watching = false
        await watch.close()
      },
    }
  }

  /** Applies one change signal (exposed for tests; `watch` calls it). */
  changed(change: SubscriptionsChanged): void {
    const { tenantId } = change
    this.stamp += 1
    if (tenantId === undefined) {
      // Subscribed (again): whatever was missed meanwhile is unknown, so everything is read afresh.
      this.forgetAll(true)
      return
    }
    this.changedAt.set(tenantId, this.stamp)
    if (!change.subscription) {
      this.forgetTenant(tenantId)
      return
    }
    const { id, eventType, storeId } = change.subscription
    this.subscriptions.delete(subscriptionKey(tenantId, id))
    this.indexes.delete(indexKey(tenantId, eventType, storeId))
  }

  private forgetAll(watching: boolean): void {
    this.stamp += 1
    this.watching = watching
    this.forgottenChangeStamp = this.stamp
    this.changedAt.clear()
    this.subscriptions.clear()
    this.indexes.clear()
    this.versions.clear()
  }

  /** How many entries are held (a test's view of the bound). */
  get held(): { subscriptions: number; indexEntries: number } {
    return { subscriptions: this.subscriptions.count, indexEntries: this.indexes.count }
  }

  /**
   * Forgets a subscription at once, before Redis and the change signal catch up: matching and lookups
   * skip it, and attempts that already hold it (waiting for a send slot) check `isGone` just before
   * sending. Ids are random and never reused, so the set is bounded, not expired.
   */
  markGone(subscriptionId: string): void {
    if (this.gone.size >= GONE_REMEMBERED) this.gone.delete(this.gone.values().next().value!)
    this.gone.add(subscriptionId)
  }

  isGone(subscriptionId: string): boolean {
    return this.gone.has(subscriptionId)
  }

  /** Active subscriptions of the event's tenant whose filters match it: its store's and those for every store. */
  async match(tenantId: string, event: ArrivalsEvent, entry: CatalogueEntry): Promise<Subscription[]> {
    const storeId = event.data.storeId
    const eventType = event.type
    if (!this.watching) await this.recheck(tenantId)
    let forStore = this.indexes.get(indexKey(tenantId, eventType, storeId))
    let forEvery = this.indexes.get(indexKey(tenantId, eventType, undefined))
    if (!forStore || !forEvery) [forStore, forEvery] = await this.loadIndex(tenantId, eventType, storeId, forStore, forEvery)
    const found: Subscription[] = []
    let unknown: string[] | undefined
    const data = event.data as unknown as Record<string, unknown>
    // A subscription receives only the event type of the trigger it was made with. The store filter
    // (in matchesFilters) is checked too: an index entry read before a subscription moved store may still name it.
    const take = (subscription: Subscription) => {
      const { record } = subscription
      if (record.status === 'active' && record.eventType === eventType && !this.gone.has(record.id) && matchesFilters(entry, record.filters, data)) found.push(subscription)
    }
    for (const indexed of [forStore, forEvery]) {
      for (let n = 0; n < indexed.ids.length; n++) {
        const subscription = this.subscriptions.get(indexed.keys[n]!)
        if (subscription === undefined) (unknown ??= []).push(indexed.ids[n]!)
        else if (subscription !== MISSING) take(subscription)
      }
    }
    if (unknown) for (const subscription of await this.loadMany(tenantId, unknown)) take(subscription)
    return found
  }

  /** One subscription (a task's): from memory, or its one record read; a miss is remembered until it changes. */
  async find(tenantId: string, subscriptionId: string): Promise<Subscription | undefined> {
    if (this.gone.has(subscriptionId)) return undefined
    if (!this.watching) await this.recheck(tenantId)
    const key = subscriptionKey(tenantId, subscriptionId)
    const cached = this.subscriptions.get(key)
    if (cached !== undefined) return cached ?? undefined
    const started = this.stamp
    const json = await this.options.subscriptions.getStored(tenantId, subscriptionId)
    const subscription = json === undefined ? undefined : this.view(tenantId, subscriptionId, json)
    if (this.current(tenantId, started)) this.subscriptions.set(key, subscription ?? MISSING)
    return subscription
  }

  /** Reads the missing index entries (and the records they name) in one round trip. */
  private async loadIndex(tenantId: string, eventType: string, storeId: string, forStore: IndexEntry | undefined,
    forEvery: IndexEntry | undefined): Promise<[IndexEntry, IndexEntry]> {
    await this.ensureIndexed(tenantId)
    const started = this.stamp
    const wanted = [...(forStore ? [] : [storeId]), ...(forEvery ? [] : [undefined])]
    const read = await this.options.subscriptions.candidates(tenantId, eventType, wanted)
    const keep = this.current(tenantId, started)
    const answers = read.map(({ ids, records }, n) => {
      const present: IndexEntry = { ids: [], keys: [] }
      ids.forEach((id, at) => {
        const json = records[at]
        if (json === undefined) return
        const key = subscriptionKey(tenantId, id)
        present.ids.push(id)
        present.keys.push(key)
        // An opened subscription already held is the same record (a change would have dropped it).
        if (keep && this.subscriptions.get(key) === undefined) this.subscriptions.set(key, this.view(tenantId, id, json) ?? MISSING)
      })
      if (keep) this.indexes.set(indexKey(tenantId, eventType, wanted[n]), present)
      return present
    })
    let at = 0
    return [forStore ?? answers[at++]!, forEvery ?? answers[at]!]
  }

  /** Subscriptions named by an index entry but no longer held (evicted or changed): one read for all. */
  private async loadMany(tenantId: string, ids: string[]): Promise<Subscription[]> {
    const started = this.stamp
    const records = await this.options.subscriptions.getStoredMany(tenantId, ids)
    const keep = this.current(tenantId, started)
    const found: Subscription[] = []
    ids.forEach((id, n) => {
      const json = records[n]
      const subscription = json === undefined ? undefined : this.view(tenantId, id, json)
      if (keep) this.subscriptions.set(subscriptionKey(tenantId, id), subscription ?? MISSING)
      if (subscription) found.push(subscription)
    })
    return found
  }

  /** True when no change of the tenant arrived since `started` (what was read then may be kept). */
  private current(tenantId: string, started: number): boolean {
    return (this.changedAt.get(tenantId) ?? this.forgottenChangeStamp) <= started
  }

  /** Once per tenant and process: a tenant stored before the index is indexed first. */
  private async ensureIndexed(tenantId: string): Promise<void> {
    let pending = this.indexed.get(tenantId)
    if (!pending) {
      pending = this.options.subscriptions.ensureIndexed(tenantId).then((built) => {
        if (built) this.options.log.info({ tenantId }, 'subscription index of the tenant built from its records')
      }, (error: unknown) => {
        this.indexed.delete(tenantId)
        throw error
      })
      this.indexed.set(tenantId, pending)
    }
    return pending
  }

  /** Without a live change signal: compares the tenant's version at most every `recheckMs`; a change drops its entries. */
  private async recheck(tenantId: string): Promise<void> {
    const seen = this.versions.get(tenantId)
    const now = Date.now()
    if (seen && now - seen.checkedAt < this.recheckMs) return
    const version = await this.options.subscriptions.version(tenantId)
    if (seen && seen.version !== version) {
      this.stamp += 1
      this.changedAt.set(tenantId, this.stamp)
      this.forgetTenant(tenantId)
    }
    this.versions.set(tenantId, { version, checkedAt: now })
  }

  private forgetTenant(tenantId: string): void {
    const prefix = `${tenantId}\u0000`
    this.subscriptions.deletePrefix(prefix)
    this.indexes.deletePrefix(prefix)
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
}
