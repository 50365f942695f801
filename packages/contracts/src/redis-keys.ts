/**
 * Every key that belongs to one tenant is built here, so a Redis Cluster deployment can put one
 * tenant's keys in one hash slot by changing this one function (a hash tag around the tenant id).
 */
export function tenantKey(namespace: string, tenantId: string, name: string): string {
  return `${namespace}:tenant:${tenantId}:${name}`
}

/**
 * Inventory's keys: `stores(t)` (hash storeId → StoreRecord JSON; the subscriptions service reads it
 * for the connector's store dropdown) and `idempotency(t, key)` (the first answer to an Idempotency-Key).
 * Subscriptions, attempts, failures and dead letters are laid out by @arrivals/subscription-registry.
 */
export function inventoryKeys(namespace: string) {
  return {
    stores: (tenantId: string) => tenantKey(namespace, tenantId, 'stores'),
    idempotency: (tenantId: string, key: string) => tenantKey(namespace, tenantId, `idempotency:${key}`),
  }
}
