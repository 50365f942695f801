import type { FastifyInstance } from 'fastify'
import type { Result } from 'ioredis'
import fp from 'fastify-plugin'
import { inventoryKeys, keyLayoutOf, type StoreRecord } from '@arrivals/contracts'
import { HttpError, type RedisClient } from '@arrivals/service-kit'

declare module 'fastify' {
  interface FastifyInstance {
    stores: StoreCatalogue
  }
}

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** REGISTER below, defined on the client by `storeCatalogue` (sent by its SHA, EVALSHA, after the first time). */
    arrivalsRegisterStore(stores: string, storeId: string, json: string, quota: number): Result<[string, string?], Context>
  }
}

export interface StoreCatalogue {
  list(tenantId: string): Promise<StoreRecord[]>
  get(tenantId: string, storeId: string): Promise<StoreRecord | undefined>
  /** Registers the store or renames it; `created` tells which. A new store over the quota is a 409. */
  put(tenantId: string, storeId: string, name: string): Promise<{ store: StoreRecord; created: boolean }>
  /**
   * The store's record, registering it with `name` first if the tenant does not know it yet; a new
   * store over the quota is a 409 (a known store always works).
   */
  ensure(tenantId: string, storeId: string, name: string): Promise<StoreRecord>
}

function parse(json: string): StoreRecord {
  return JSON.parse(json) as StoreRecord
}

// KEYS: stores. ARGV: storeId, new record JSON, most stores per tenant.
// {'existing', JSON} for a known store, {'created', JSON} when registered now, {'quota'} when the tenant
// already has the most stores it may (nothing written). Counting and writing are one step.
const REGISTER = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then return {'existing', existing} end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {'quota'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {'created', ARGV[2]}
`

/** The default QUOTA_STORES states (see its settings entry). */
const DEFAULT_STORES_QUOTA = 5_000

function record(storeId: string, name: string, now = new Date().toISOString()): StoreRecord {
  return { storeId, name, createdAt: now, updatedAt: now }
}

/**
 * A tenant's stores: StoreRecord JSON in the hash `stores(tenantId)`, field = storeId. Inventory
 * owns it; the subscriptions service reads it for the connector's store dropdown.
 */
export function storeCatalogue(redis: RedisClient, namespace: string, quota = DEFAULT_STORES_QUOTA): StoreCatalogue {
  const keys = inventoryKeys(namespace, keyLayoutOf(redis))
  // Every receipt runs this script: ioredis sends its SHA (EVALSHA) and the text only when Redis lacks
  // it, not the whole text each time (registering was 13% of inventory's CPU samples under load).
  redis.defineCommand('arrivalsRegisterStore', { numberOfKeys: 1, lua: REGISTER })

  async function register(tenantId: string, storeId: string, name: string): Promise<{ store: StoreRecord; created: boolean }> {
    const [outcome, json] = await redis.arrivalsRegisterStore(keys.stores(tenantId), storeId, JSON.stringify(record(storeId, name)), quota)
    if (outcome === 'quota') {
      throw new HttpError(409, `store "${storeId}" is new and your tenant has reached its quota of ${quota} stores (QUOTA_STORES); use a store it knows, or ask your operator to raise it`, 'QUOTA_EXCEEDED')
    }
    return { store: parse(json!), created: outcome === 'created' }
  }

  return {
    async list(tenantId) {
      const all = await redis.hvals(keys.stores(tenantId))
      return all.map(parse).sort((a, b) => (a.storeId < b.storeId ? -1 : a.storeId > b.storeId ? 1 : 0))
    },
    async get(tenantId, storeId) {
      const json = await redis.hget(keys.stores(tenantId), storeId)
      return json === null ? undefined : parse(json)
    },
    async put(tenantId, storeId, name) {
      const registered = await register(tenantId, storeId, name)
      if (registered.created) return registered
      const store: StoreRecord = { ...registered.store, name, updatedAt: new Date().toISOString() }
      await redis.hset(keys.stores(tenantId), storeId, JSON.stringify(store))
      return { store, created: false }
    },
    async ensure(tenantId, storeId, name) {
      // The answer is whichever record won, ours or an earlier one.
      return (await register(tenantId, storeId, name)).store
    },
  }
}

export default fp(async (app: FastifyInstance, options: { namespace: string; quota: number }) => {
  app.decorate('stores', storeCatalogue(app.redis, options.namespace, options.quota))
}, { name: 'store-catalogue', dependencies: ['redis'] })
