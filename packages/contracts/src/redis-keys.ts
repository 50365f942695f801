/**
 * How keys are named: `single` for one Redis (the names every deployment has today), `cluster` for
 * Redis Cluster, where every key of a tenant carries a hash tag. It follows the client (ioredis'
 * `isCluster`), so a single Redis keeps its names and needs no migration.
 */
export type KeyLayout = 'single' | 'cluster'

/** The layout a client needs: hash tags exactly when it is a Redis Cluster client. */
export function keyLayoutOf(redis: { isCluster: boolean }): KeyLayout {
  return redis.isCluster ? 'cluster' : 'single'
}

/**
 * Every key that belongs to one tenant is built here. In the cluster layout the hash tag
 * `{namespace:tenantId}` puts all of a tenant's keys in one hash slot, so a tenant's multi-key
 * scripts and transactions run on one shard; the key still starts with `namespace:`, so a SCAN by
 * namespace finds it.
 */
export function tenantKey(namespace: string, tenantId: string, name: string, layout: KeyLayout = 'single'): string {
  if (layout === 'cluster') return `${namespace}:tenant:{${namespace}:${tenantId}}:${name}`
  return `${namespace}:tenant:${tenantId}:${name}`
}

/**
 * Inventory's keys: `stores(t)` (hash storeId → StoreRecord JSON; the subscriptions service reads it
 * for the connector's store dropdown) and `idempotency(t, key)` (the first answer to an Idempotency-Key).
 * Subscriptions, attempts, failures and dead letters are laid out by @arrivals/subscription-registry.
 */
export function inventoryKeys(namespace: string, layout: KeyLayout = 'single') {
  return {
    stores: (tenantId: string) => tenantKey(namespace, tenantId, 'stores', layout),
    idempotency: (tenantId: string, key: string) => tenantKey(namespace, tenantId, `idempotency:${key}`, layout),
  }
}
