import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import type { SubscriptionRecord } from '@arrivals/contracts'
import type { RegistryKeys } from './layout.js'
import { CANDIDATES, CREATE, EVERY_STORE, INDEX_PAGE, REMOVE, REPLACE } from './scripts.js'

/** Per-tenant limits on subscriptions, enforced by `create`. */
export interface SubscriptionQuotas {
  /** Most subscriptions one tenant may have. */
  subscriptions: number
  /** Most subscriptions of one tenant on one store; those without a store filter count as one store. */
  subscriptionsPerStore: number
}

/** The defaults the services' settings state (QUOTA_SUBSCRIPTIONS, QUOTA_SUBSCRIPTIONS_PER_STORE). */
export const defaultSubscriptionQuotas: SubscriptionQuotas = { subscriptions: 10_000, subscriptionsPerStore: 100 }

/** A new subscription was refused because a quota of its tenant is full; nothing was written. */
export class QuotaExceededError extends Error {
  constructor(readonly quota: 'subscriptions' | 'subscriptions-per-store' | 'stores', readonly limit: number, message: string) {
    super(message)
    this.name = 'QuotaExceededError'
  }
}

export interface SubscriptionPage {
  items: SubscriptionRecord[]
  /** Pass back as `cursor` for the next page; absent on the last page. */
  nextCursor?: string
}

/** A change to apply to the current record; undefined leaves it as it is. */
export type RecordChange = (current: SubscriptionRecord) => SubscriptionRecord | undefined

/** The subscription one change was about: its id, event type and store (undefined: every store). */
export interface ChangedSubscription {
  id: string
  eventType: string
  storeId: string | undefined
}

/**
 * What a change signal says: one subscription of a tenant changed (`subscription`), anything of one
 * tenant may have (a bulk import, a record that is not JSON), or (after a reconnect) anything at all.
 */
export type SubscriptionsChanged = { tenantId: string; subscription?: ChangedSubscription } | { tenantId: undefined }

/** The subscriptions of one index set: their ids and, beside each, the record as stored (undefined: gone meanwhile). */
export interface IndexedSubscriptions {
  ids: string[]
  records: Array<string | undefined>
}

export interface Subscriptions {
  /**
   * Stores a new record unless its fingerprint already names a stored subscription: then nothing is
   * written and that subscription's id is answered. Eight concurrent creates of one flow make one.
   * A new record over a quota throws QuotaExceededError (an existing one is never refused).
   */
  create(record: SubscriptionRecord, quotas?: SubscriptionQuotas): Promise<{ created: true } | { created: false; id: string }>
  get(tenantId: string, id: string): Promise<SubscriptionRecord | undefined>
  /** One record as stored (JSON), for a reader that checks records itself, as with `scan`. */
  getStored(tenantId: string, id: string): Promise<string | undefined>
  /** Several records as stored (undefined where one is missing), in one read. */
  getStoredMany(tenantId: string, ids: readonly string[]): Promise<Array<string | undefined>>
  /**
   * An event's candidates without loading the tenant: for each store asked (undefined: the
   * subscriptions without a store filter), the ids of the tenant's subscriptions to `eventType` on that
   * store, with their records as stored, in one round trip. Call `ensureIndexed` once per tenant first.
   */
  candidates(tenantId: string, eventType: string, storeIds: ReadonlyArray<string | undefined>): Promise<IndexedSubscriptions[]>
  /**
   * Makes sure the tenant's per-store index is complete: a tenant stored before the index existed is
   * backfilled in HSCAN pages (idempotent; concurrent readers may all do it). True when it was built now.
   */
  ensureIndexed(tenantId: string): Promise<boolean>
  /** The id of the subscription stored under this fingerprint, if any. */
  idByFingerprint(tenantId: string, fingerprint: string): Promise<string | undefined>
  /** One HSCAN page of the tenant's records (operator listing). */
  list(tenantId: string, options: { cursor?: string; limit: number }): Promise<SubscriptionPage>
  /**
   * Every record of the tenant in HSCAN pages of about `pageSize`, as stored (id, JSON), so a reader
   * that holds many parses and checks each one itself; never one reply for a tenant of 100,000.
   */
  scan(tenantId: string, pageSize?: number): AsyncGenerator<Array<[id: string, json: string]>>
  /** The tenant's change counter (null before its first change): equal versions, equal records. */
  version(tenantId: string): Promise<string | null>
  /**
   * Applies `change` by compare-and-set, re-reading and retrying when someone else wrote in between,
   * so it never overwrites a concurrent change. Undefined when the subscription does not exist.
   */
  update(tenantId: string, id: string, change: RecordChange): Promise<SubscriptionRecord | undefined>
  /** Active again, the disabled reason and time removed (operator or re-subscribe). */
  enable(tenantId: string, id: string, now?: Date): Promise<SubscriptionRecord | undefined>
  /** Disabled with a reason (operator; mirror of `enable`). */
  disable(tenantId: string, id: string, reason: string, now?: Date): Promise<SubscriptionRecord | undefined>
  /**
   * The dispatcher's disable after a failure streak: one compare-and-set against the record as read
   * now, no retry, and the streak cleared with it. False when it is already disabled, gone, or changed
   * in between (a re-subscribe or an operator's enable is newer news and wins).
   */
  disableAfterFailures(tenantId: string, id: string, reason: string, now?: Date): Promise<boolean>
  /**
   * Removes the subscription, its fingerprint, attempt history and failure streak (DELETE, unsubscribe
   * and a receiver's 410 Gone alike). False when it was not there.
   */
  remove(tenantId: string, id: string): Promise<boolean>
  /**
   * Writes prepared records in bulk (seeding a benchmark or a migration), with their fingerprints and
   * index entries, then makes sure each tenant is indexed, with one version bump and one change signal
   * (the tenant alone) per tenant at the end; existing records with the same ids are overwritten (an
   * overwritten record's old index entry, if its store changed, stays behind: readers check the store).
   */
  importAll(records: readonly SubscriptionRecord[]): Promise<void>
  /**
   * Calls `listener` with the tenant whose subscriptions changed, on a connection of its own (a copy
   * of the registry's client). After every (re)subscription it calls it with no tenant: a signal lost
   * while the connection was away cannot be told apart from none, so the reader starts afresh.
   */
  watch(listener: (change: SubscriptionsChanged) => void, options?: WatchOptions): ChangeWatch
}

export interface WatchOptions {
  onError?: (error: Error) => void
  /** The connection went away: signals may be missed until the next "start afresh". */
  onLost?: () => void
}

export interface ChangeWatch {
  close(): Promise<void>
}

/**
 * How often an update is retried when the record changed between reading and writing it: each round
 * one writer wins, so 30 concurrent re-subscribes of one flow need up to 30 rounds; a random pause that
 * grows with the attempt (up to `REPLACE_PAUSE_MAX_MS`) spreads the losers so they converge sooner.
 */
const REPLACE_ATTEMPTS = 64
const REPLACE_PAUSE_MAX_MS = 50

function contentionPause(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(2 ** attempt, REPLACE_PAUSE_MAX_MS)
  return new Promise((resolve) => setTimeout(resolve, ms))
}
/** Records per pipeline when importing. */
const IMPORT_CHUNK = 2_000

/** The record active again, its disabled reason and time removed; undefined when it already is. */
export function enabledRecord(current: SubscriptionRecord, now: Date): SubscriptionRecord | undefined {
  if (current.status === 'active') return undefined
  const { disabledReason: _reason, disabledAt: _at, ...rest } = current
  return { ...rest, status: 'active', updatedAt: now.toISOString() }
}

/** The record disabled with a reason; undefined when it already is. */
export function disabledRecord(current: SubscriptionRecord, reason: string, now: Date): SubscriptionRecord | undefined {
  if (current.status === 'disabled') return undefined
  return { ...current, status: 'disabled', disabledReason: reason, disabledAt: now.toISOString(), updatedAt: now.toISOString() }
}

export function subscriptions(redis: RedisClient, keys: RegistryKeys): Subscriptions {
  const parse = (json: string) => JSON.parse(json) as SubscriptionRecord

  /** 1 written, 0 changed meanwhile, -1 gone. */
  async function replace(tenantId: string, id: string, expected: string, next: SubscriptionRecord, alsoDelete: string[] = []): Promise<number> {
    return await redis.eval(REPLACE, 2 + alsoDelete.length, keys.subscriptions(tenantId), keys.version(tenantId), ...alsoDelete,
      id, expected, JSON.stringify(next), keys.subscriptionsChanged, tenantId, keys.storeIndexPrefix(tenantId)) as number
  }

  const facet: Subscriptions = {
    async create(record, quotas = defaultSubscriptionQuotas) {
      const { tenantId } = record
      const store = record.filters.storeId ?? EVERY_STORE
      const [outcome, id, limit] = await redis.eval(CREATE, 5,
        keys.fingerprints(tenantId), keys.subscriptions(tenantId), keys.version(tenantId), keys.storeCounts(tenantId), keys.indexed(tenantId),
        record.fingerprint, record.id, JSON.stringify(record), keys.subscriptionsChanged, tenantId, store,
        quotas.subscriptions, quotas.subscriptionsPerStore, keys.storeIndexPrefix(tenantId)) as [string, string, string?]
      if (outcome === 'quota') throw quotaExceeded(id as 'subscriptions' | 'subscriptions-per-store', Number(limit), record.filters.storeId)
      return outcome === 'created' ? { created: true } : { created: false, id }
    },

    async get(tenantId, id) {
      const json = await redis.hget(keys.subscriptions(tenantId), id)
      return json === null ? undefined : parse(json)
    },

    async getStored(tenantId, id) {
      return (await redis.hget(keys.subscriptions(tenantId), id)) ?? undefined
    },

    async getStoredMany(tenantId, ids) {
      if (ids.length === 0) return []
      return (await redis.hmget(keys.subscriptions(tenantId), ...ids)).map((json) => json ?? undefined)
    },

    async candidates(tenantId, eventType, storeIds) {
      const sets = storeIds.map((storeId) => keys.storeIndex(tenantId, eventType, storeId))
      const answer = await evalCached(redis, CANDIDATES, [keys.subscriptions(tenantId), ...sets], []) as Array<[string[], Array<string | null>]>
      return answer.map(([ids, records]) => ({ ids, records: records.map((json) => json ?? undefined) }))
    },

    async ensureIndexed(tenantId) {
      if (await redis.get(keys.indexed(tenantId)) === '1') return false
      let cursor = '0'
      do {
        cursor = await redis.eval(INDEX_PAGE, 2, keys.subscriptions(tenantId), keys.indexed(tenantId),
          keys.storeIndexPrefix(tenantId), cursor, INDEX_PAGE_SIZE) as string
      } while (cursor !== '0')
      return true
    },

    async idByFingerprint(tenantId, fingerprint) {
      return (await redis.hget(keys.fingerprints(tenantId), fingerprint)) ?? undefined
    },

    async list(tenantId, { cursor = '0', limit }) {
      const [next, entries] = await redis.hscan(keys.subscriptions(tenantId), cursor, 'COUNT', limit)
      const items: SubscriptionRecord[] = []
      for (let index = 1; index < entries.length; index += 2) items.push(parse(entries[index]!))
      return next === '0' ? { items } : { items, nextCursor: next }
    },

    async* scan(tenantId, pageSize = 1_000) {
      let cursor = '0'
      do {
        const [next, flat] = await redis.hscan(keys.subscriptions(tenantId), cursor, 'COUNT', pageSize)
        cursor = next
        const page: Array<[string, string]> = []
        for (let index = 0; index + 1 < flat.length; index += 2) page.push([flat[index]!, flat[index + 1]!])
        yield page
      } while (cursor !== '0')
    },

    version(tenantId) {
      return redis.get(keys.version(tenantId))
    },

    async update(tenantId, id, change) {
      for (let attempt = 0; attempt < REPLACE_ATTEMPTS; attempt++) {
        const json = await redis.hget(keys.subscriptions(tenantId), id)
        if (json === null) return undefined
        const current = parse(json)
        const next = change(current)
        if (!next) return current
        const written = await replace(tenantId, id, json, next)
        if (written === 1) return next
        if (written === -1) return undefined
        await contentionPause(attempt)
      }
      throw new Error(`subscription ${id} kept changing while it was being updated`)
    },

    enable(tenantId, id, now = new Date()) {
      return facet.update(tenantId, id, (current) => enabledRecord(current, now))
    },

    disable(tenantId, id, reason, now = new Date()) {
      return facet.update(tenantId, id, (current) => disabledRecord(current, reason, now))
    },

    async disableAfterFailures(tenantId, id, reason, now = new Date()) {
      const json = await redis.hget(keys.subscriptions(tenantId), id)
      if (json === null) return false
      const next = disabledRecord(parse(json), reason, now)
      return next !== undefined && (await replace(tenantId, id, json, next, [keys.failures(tenantId, id)])) === 1
    },

    async remove(tenantId, id) {
      const removed = await redis.eval(REMOVE, 6, keys.subscriptions(tenantId), keys.fingerprints(tenantId), keys.version(tenantId),
        keys.attempts(tenantId, id), keys.failures(tenantId, id), keys.storeCounts(tenantId), id, keys.subscriptionsChanged, tenantId,
        keys.storeIndexPrefix(tenantId)) as number
      return removed === 1
    },

    async importAll(records) {
      const tenants = new Set<string>()
      for (let start = 0; start < records.length; start += IMPORT_CHUNK) {
        const pipelines = tenantPipelines(redis)
        for (const record of records.slice(start, start + IMPORT_CHUNK)) {
          tenants.add(record.tenantId)
          pipelines.of(record.tenantId).hset(keys.subscriptions(record.tenantId), record.id, JSON.stringify(record))
          pipelines.of(record.tenantId).hset(keys.fingerprints(record.tenantId), record.fingerprint, record.id)
          pipelines.of(record.tenantId).sadd(keys.storeIndex(record.tenantId, record.eventType, record.filters.storeId), record.id)
        }
        await pipelines.exec()
      }
      for (const tenantId of tenants) {
        // Records stored before the index, if any, are indexed now (the imported ones already are).
        await facet.ensureIndexed(tenantId)
        // The per-store counts are rebuilt from the records at the next create.
        await execOrThrow(redis.multi().del(keys.storeCounts(tenantId)).incr(keys.version(tenantId)).publish(keys.subscriptionsChanged, tenantId))
      }
    },

    watch(listener, { onError = () => {}, onLost = () => {} } = {}) {
      // Subscribed again by hand on every 'ready', so the "start afresh" signal follows the subscription.
      // In a cluster the channel is an ordinary one: PUBLISH reaches every node over the cluster bus,
      // so a subscriber on any node hears every tenant (registry README, "Redis Cluster").
      const subscriber: RedisClient = redis.isCluster
        ? (redis as Cluster).duplicate()
        : (redis as Redis).duplicate({ autoResubscribe: false, lazyConnect: false })
      subscriber.on('error', onError)
      subscriber.on('message', (channel: string, message: string) => {
        if (channel === keys.subscriptionsChanged) listener(parseSignal(message))
      })
      subscriber.on('close', onLost)
      subscriber.on('ready', () => {
        subscriber.subscribe(keys.subscriptionsChanged).then(() => listener({ tenantId: undefined }), onError)
      })
      return {
        async close() {
          await subscriber.quit().catch(() => subscriber.disconnect())
        },
      }
    },
  }
  return facet
}

/** Records per page when backfilling a tenant's index (one script call each). */
const INDEX_PAGE_SIZE = 1_000

/** A change signal as published by the scripts: `tenant`, or `tenant\nid\neventType\nstore`. */
export function parseSignal(message: string): SubscriptionsChanged {
  const [tenantId, id, eventType, store] = message.split('\n')
  if (id === undefined || eventType === undefined || store === undefined) return { tenantId: tenantId! }
  return { tenantId: tenantId!, subscription: { id, eventType, storeId: store === EVERY_STORE ? undefined : store } }
}

const scriptDigests = new Map<string, string>()

/**
 * A read-only script on the hot path, sent by its SHA-1 (EVALSHA) and in full only when this Redis
 * does not have it yet (NOSCRIPT): the write scripts stay plain EVAL, as they are rare.
 */
async function evalCached(redis: RedisClient, script: string, keyList: string[], args: Array<string | number>): Promise<unknown> {
  let digest = scriptDigests.get(script)
  if (!digest) scriptDigests.set(script, digest = createHash('sha1').update(script).digest('hex'))
  try {
    return await redis.evalsha(digest, keyList.length, ...keyList, ...args)
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
    return await redis.eval(script, keyList.length, ...keyList, ...args)
  }
}

/** The refusal of a create over a quota, in words that name the quota and its limit. */
export function quotaExceeded(quota: 'subscriptions' | 'subscriptions-per-store', limit: number, storeId: string | undefined): QuotaExceededError {
  const message = quota === 'subscriptions'
    ? `your tenant has reached its quota of ${limit} subscriptions (QUOTA_SUBSCRIPTIONS); delete unused ones, or ask your operator to raise it`
    : `your tenant has reached its quota of ${limit} subscriptions per store (QUOTA_SUBSCRIPTIONS_PER_STORE) ${storeId ? `on store ${storeId}` : 'for every store (no store filter)'}; delete unused ones, or ask your operator to raise it`
  return new QuotaExceededError(quota, limit, message)
}

/** One Redis or a Redis Cluster: the registry lays its keys out for whichever it is given. */
export type RedisClient = Redis | Cluster

type Pipeline = ReturnType<Redis['pipeline']>

/**
 * Batches of writes for many tenants: one pipeline on one Redis (one round trip, as always); one per
 * tenant on a cluster, where a pipeline must stay on one node and a tenant's keys share one slot.
 */
export function tenantPipelines(redis: RedisClient) {
  const shared = redis.isCluster ? undefined : redis.pipeline()
  const perTenant = new Map<string, Pipeline>()
  return {
    of(tenantId: string): Pipeline {
      if (shared) return shared
      let pipeline = perTenant.get(tenantId)
      if (!pipeline) perTenant.set(tenantId, pipeline = redis.pipeline())
      return pipeline
    },
    async exec(): Promise<void> {
      if (shared) await execOrThrow(shared)
      else await Promise.all([...perTenant.values()].map(execOrThrow))
    },
  }
}

/** Runs a pipeline or transaction and throws the first command error it answers. */
export async function execOrThrow(batch: Pipeline): Promise<Array<[Error | null, unknown]>> {
  const results = await batch.exec()
  const failed = results?.find(([error]) => error)
  if (failed) throw failed[0]
  return results ?? []
}
