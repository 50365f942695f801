import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import {
  GOODS_RECEIVED, redactUrl, redisKeys, sealingContext,
  type FlowInfo, type SecretBox, type SubscriptionFilters, type SubscriptionRecord,
} from '@arrivals/contracts'

/**
 * The tenant's subscriptions in Redis, laid out as packages/contracts' `redisKeys` says and the
 * dispatcher reads them: SubscriptionRecord JSON in `subscriptions(t)`, `fingerprints(t)` for
 * re-subscribe, and on every change `INCR version(t)` + `PUBLISH subscriptionsChanged t`.
 *
 * Every change is one Lua script: the write, the version bump and the publish happen together or
 * not at all (atomic like the MULTI the pins describe, and it can also compare before it writes, so
 * two concurrent subscribes of one flow cannot create two subscriptions, and an update never
 * overwrites a change the dispatcher made in between).
 */
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

export interface ListPage {
  items: SubscriptionRecord[]
  /** Pass back as `cursor` for the next page; absent on the last page. */
  nextCursor?: string
}

export interface SubscriptionStore {
  subscribe(request: SubscribeRequest): Promise<SubscribeResult>
  get(tenantId: string, id: string): Promise<SubscriptionRecord | undefined>
  list(tenantId: string, options: { cursor?: string; limit: number }): Promise<ListPage>
  /** False when the tenant has no such subscription. */
  remove(tenantId: string, id: string): Promise<boolean>
  /** The id of the subscription with this callback and these filters, if the tenant has one. */
  find(tenantId: string, callbackUrl: string, filters: SubscriptionFilters): Promise<string | undefined>
  /** Active again (status 'active', disabledReason removed); undefined when it does not exist. */
  enable(tenantId: string, id: string): Promise<SubscriptionRecord | undefined>
  /** Disabled with this reason (kept as it was when already disabled); undefined when it does not exist. */
  disable(tenantId: string, id: string, reason: string): Promise<SubscriptionRecord | undefined>
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

// KEYS: fingerprints, subscriptions, version. ARGV: fingerprint, new id, new record JSON, channel, tenant.
// Answers {'existing', id, json} or {'created', id, json}.
const SUBSCRIBE = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  local json = redis.call('HGET', KEYS[2], existing)
  if json then return {'existing', existing, json} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return {'created', ARGV[2], ARGV[3]}
`

// KEYS: subscriptions, version. ARGV: id, expected JSON, new JSON, channel, tenant.
// Compare-and-set: 1 when written, 0 when the record changed meanwhile, -1 when it is gone.
const REPLACE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return -1 end
if current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`

// KEYS: subscriptions, fingerprints, version, attempts, failures. ARGV: id, channel, tenant.
// 1 when removed, 0 when absent. Its attempt history and failure count go with it.
const REMOVE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local record = cjson.decode(current)
redis.call('HDEL', KEYS[1], ARGV[1])
if type(record.fingerprint) == 'string' and redis.call('HGET', KEYS[2], record.fingerprint) == ARGV[1] then
  redis.call('HDEL', KEYS[2], record.fingerprint)
end
redis.call('INCR', KEYS[3])
redis.call('DEL', KEYS[4], KEYS[5])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`

type SubscribeReply = [string, string, string]

/** How often an update is retried when the record changed between reading and writing it. */
const REPLACE_ATTEMPTS = 5

export function subscriptionStore(redis: Redis, namespace: string, box: SecretBox): SubscriptionStore {
  const keys = redisKeys(namespace)
  const parse = (json: string) => JSON.parse(json) as SubscriptionRecord

  function fingerprintOf(tenantId: string, callbackUrl: string, filters: SubscriptionFilters): string {
    return box.fingerprint(`${tenantId}\u0000${canonicalCallback(callbackUrl)}\u0000${canonicalFilters(filters)}`)
  }

  async function get(tenantId: string, id: string): Promise<SubscriptionRecord | undefined> {
    const json = await redis.hget(keys.subscriptions(tenantId), id)
    return json === null ? undefined : parse(json)
  }

  /** Applies `change` with compare-and-set, re-reading and retrying if someone else wrote first. */
  async function update(tenantId: string, id: string, change: (record: SubscriptionRecord) => SubscriptionRecord | undefined): Promise<SubscriptionRecord | undefined> {
    for (let attempt = 0; attempt < REPLACE_ATTEMPTS; attempt++) {
      const json = await redis.hget(keys.subscriptions(tenantId), id)
      if (json === null) return undefined
      const current = parse(json)
      const next = change(current)
      if (!next) return current
      const written = await redis.eval(REPLACE, 2, keys.subscriptions(tenantId), keys.version(tenantId),
        id, json, JSON.stringify(next), keys.subscriptionsChanged, tenantId) as number
      if (written === 1) return next
      if (written === -1) return undefined
    }
    throw new Error(`subscription ${id} kept changing while it was being updated`)
  }

  const store: SubscriptionStore = {
    get,

    async subscribe({ tenantId, callbackUrl, filters, flow }) {
      const callback = canonicalCallback(callbackUrl)
      const fingerprint = fingerprintOf(tenantId, callbackUrl, filters)
      const id = newSubscriptionId()
      const secret = newSigningSecret()
      const now = new Date().toISOString()
      const fresh: SubscriptionRecord = {
        id,
        tenantId,
        eventType: GOODS_RECEIVED,
        callbackSealed: box.seal(callback, sealingContext.callback(tenantId, id)),
        callbackRedacted: redactUrl(callback),
        fingerprint,
        secretSealed: box.seal(secret, sealingContext.secret(tenantId, id)),
        filters: JSON.parse(canonicalFilters(filters)) as SubscriptionFilters,
        status: 'active',
        flow,
        createdAt: now,
        updatedAt: now,
      }
      const [outcome, existingId] = await redis.eval(SUBSCRIBE, 3,
        keys.fingerprints(tenantId), keys.subscriptions(tenantId), keys.version(tenantId),
        fingerprint, id, JSON.stringify(fresh), keys.subscriptionsChanged, tenantId) as SubscribeReply
      if (outcome === 'created') return { record: fresh, created: true, secret }

      // The same flow subscribing again (saved again, or the platform retrying): active again, and
      // the flow's current name and version kept, so an operator sees which flow owns it.
      const record = await update(tenantId, existingId, (current) => {
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
      return (await redis.hget(keys.fingerprints(tenantId), fingerprintOf(tenantId, callbackUrl, filters))) ?? undefined
    },

    async list(tenantId, { cursor = '0', limit }) {
      const [next, entries] = await redis.hscan(keys.subscriptions(tenantId), cursor, 'COUNT', limit)
      const items: SubscriptionRecord[] = []
      for (let index = 1; index < entries.length; index += 2) items.push(parse(entries[index]!))
      return next === '0' ? { items } : { items, nextCursor: next }
    },

    async remove(tenantId, id) {
      const removed = await redis.eval(REMOVE, 5, keys.subscriptions(tenantId), keys.fingerprints(tenantId), keys.version(tenantId),
        keys.attempts(id), keys.failures(id), id, keys.subscriptionsChanged, tenantId) as number
      return removed === 1
    },

    enable(tenantId, id) {
      return update(tenantId, id, (current) => {
        if (current.status === 'active') return undefined
        const { disabledReason: _reason, disabledAt: _at, ...rest } = current
        return { ...rest, status: 'active', updatedAt: new Date().toISOString() }
      })
    },

    disable(tenantId, id, reason) {
      return update(tenantId, id, (current) => {
        if (current.status === 'disabled') return undefined
        const now = new Date().toISOString()
        return { ...current, status: 'disabled', disabledReason: reason, disabledAt: now, updatedAt: now }
      })
    },

    async rotateSecret(tenantId, id) {
      const secret = newSigningSecret()
      const record = await update(tenantId, id, (current) => ({
        ...current,
        secretSealed: box.seal(secret, sealingContext.secret(tenantId, id)),
        updatedAt: new Date().toISOString(),
      }))
      return record ? { record, secret } : undefined
    },
  }
  return store
}
