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

/**
 * @deprecated The dispatcher's copy of the subscription layout, kept only until it moves onto
 * @arrivals/subscription-registry (issue 12); delete it then. A registry test proves both name the
 * same keys, and lint lets nothing else import it.
 */
export function redisKeys(namespace: string) {
  return {
    ...inventoryKeys(namespace),
    subscriptions: (tenantId: string) => tenantKey(namespace, tenantId, 'subscriptions'),
    fingerprints: (tenantId: string) => tenantKey(namespace, tenantId, 'fingerprints'),
    version: (tenantId: string) => tenantKey(namespace, tenantId, 'version'),
    subscriptionsChanged: `${namespace}:subscriptions:changed`,
    attempts: (subscriptionId: string) => `${namespace}:attempts:${subscriptionId}`,
    deadLetters: (tenantId: string) => tenantKey(namespace, tenantId, 'dead-letters'),
    deadLettersByTime: (tenantId: string) => tenantKey(namespace, tenantId, 'dead-letters:by-time'),
    pipelineDeadLetters: `${namespace}:pipeline-dead-letters`,
    failures: (subscriptionId: string) => `${namespace}:failures:${subscriptionId}`,
  }
}
/** @deprecated See `redisKeys`. */
export type RedisKeys = ReturnType<typeof redisKeys>

/** @deprecated The dispatcher's until it moves onto @arrivals/subscription-registry, which exports them. */
export const historyLimits = {
  attemptsPerSubscription: 100,
  deadLettersPerTenant: 10_000,
  deadLetterMaxAgeMs: 14 * 24 * 3_600_000,
} as const
