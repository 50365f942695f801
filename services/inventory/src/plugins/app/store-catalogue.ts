import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { RedisClient } from '@arrivals/service-kit'
import { inventoryKeys, keyLayoutOf, type StoreRecord } from '@arrivals/contracts'

declare module 'fastify' {
  interface FastifyInstance {
    stores: StoreCatalogue
  }
}

export interface StoreCatalogue {
  list(tenantId: string): Promise<StoreRecord[]>
  get(tenantId: string, storeId: string): Promise<StoreRecord | undefined>
  /** Registers the store or renames it; `created` tells which. */
  put(tenantId: string, storeId: string, name: string): Promise<{ store: StoreRecord; created: boolean }>
  /** The store's record, registering it with `name` first if the tenant does not know it yet. */
  ensure(tenantId: string, storeId: string, name: string): Promise<StoreRecord>
}

function parse(json: string): StoreRecord {
  return JSON.parse(json) as StoreRecord
}

function record(storeId: string, name: string, now = new Date().toISOString()): StoreRecord {
  return { storeId, name, createdAt: now, updatedAt: now }
}

/**
 * A tenant's stores: StoreRecord JSON in the hash `stores(tenantId)`, field = storeId. Inventory
 * owns it; the subscriptions service reads it for the connector's store dropdown.
 */
export function storeCatalogue(redis: RedisClient, namespace: string): StoreCatalogue {
  const keys = inventoryKeys(namespace, keyLayoutOf(redis))
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
      const key = keys.stores(tenantId)
      const fresh = record(storeId, name)
      if (await redis.hsetnx(key, storeId, JSON.stringify(fresh))) return { store: fresh, created: true }
      const existing = await redis.hget(key, storeId)
      // There is no delete, so the record is still there; the fallback only satisfies the type.
      const store: StoreRecord = existing === null ? fresh : { ...parse(existing), name, updatedAt: fresh.updatedAt }
      await redis.hset(key, storeId, JSON.stringify(store))
      return { store, created: false }
    },
    async ensure(tenantId, storeId, name) {
      const key = keys.stores(tenantId)
      // HSETNX then HGET in one transaction: the answer is whichever record won, ours or an earlier one.
      const results = await redis.multi().hsetnx(key, storeId, JSON.stringify(record(storeId, name))).hget(key, storeId).exec()
      const failed = results?.find(([error]) => error)?.[0]
      if (failed) throw failed
      return parse(results?.[1]?.[1] as string)
    },
  }
}

export default fp(async (app: FastifyInstance, options: { namespace: string }) => {
  app.decorate('stores', storeCatalogue(app.redis, options.namespace))
}, { name: 'store-catalogue', dependencies: ['redis'] })
