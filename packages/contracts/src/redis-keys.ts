/**
 * The Redis layout, one function per key, every key under the namespace.
 *
 * Subscriptions (owned by the subscriptions service; read by the dispatcher):
 * - `subscriptions(t)`  hash  subscriptionId → SubscriptionRecord JSON, one hash per tenant, so the
 *   dispatcher loads a tenant's subscriptions with one HGETALL and matching never scans other tenants.
 * - `fingerprints(t)`   hash  fingerprint → subscriptionId (re-subscribe finds the existing one).
 * - `version(t)`        counter, INCR on every change, and a PUBLISH on `subscriptionsChanged` with
 *   the tenant id, so dispatchers can cache a tenant's subscriptions and drop the cache on change.
 *
 * Stores (owned by inventory; read by the subscriptions service for the connector dropdown):
 * - `stores(t)`         hash  storeId → StoreRecord JSON.
 *
 * Delivery history (owned by the dispatcher; read by the subscriptions service):
 * - `attempts(s)`       list of AttemptRecord JSON, newest first, capped.
 * - `deadLetters(t)`    hash  deadLetterId → DeadLetterRecord JSON, plus `deadLettersByTime(t)`,
 *   a sorted set scored by dead-lettering time for listing, "since T" and trimming by age and size.
 *   A change of a subscription by the dispatcher (disabled after sustained failure, removed after
 *   410 Gone) follows the same rules as the subscriptions service: update the hash, INCR the
 *   version, PUBLISH the tenant id on `subscriptionsChanged`.
 * - `failures(s)`       the dispatcher's consecutive-failure bookkeeping for disabling.
 *
 * Inventory only: `idempotency(t, key)` (the first answer to an Idempotency-Key).
 */
export function redisKeys(namespace: string) {
  return {
    subscriptions: (tenantId: string) => `${namespace}:tenant:${tenantId}:subscriptions`,
    fingerprints: (tenantId: string) => `${namespace}:tenant:${tenantId}:fingerprints`,
    version: (tenantId: string) => `${namespace}:tenant:${tenantId}:version`,
    subscriptionsChanged: `${namespace}:subscriptions:changed`,
    attempts: (subscriptionId: string) => `${namespace}:attempts:${subscriptionId}`,
    deadLetters: (tenantId: string) => `${namespace}:tenant:${tenantId}:dead-letters`,
    deadLettersByTime: (tenantId: string) => `${namespace}:tenant:${tenantId}:dead-letters:by-time`,
    /** Dead letters that name no tenant (malformed events): visible to operators of the deployment. */
    pipelineDeadLetters: `${namespace}:pipeline-dead-letters`,
    failures: (subscriptionId: string) => `${namespace}:failures:${subscriptionId}`,
    stores: (tenantId: string) => `${namespace}:tenant:${tenantId}:stores`,
    idempotency: (tenantId: string, key: string) => `${namespace}:tenant:${tenantId}:idempotency:${key}`,
    apiKeys: `${namespace}:api-keys`,
  }
}
export type RedisKeys = ReturnType<typeof redisKeys>

/** Bounds on the history the dispatcher keeps. */
export const historyLimits = {
  attemptsPerSubscription: 100,
  deadLettersPerTenant: 10_000,
  deadLetterMaxAgeMs: 14 * 24 * 3_600_000,
} as const
