import { tenantKey, type KeyLayout } from '@arrivals/contracts'

/** The store of subscriptions without a store filter, in the per-store counts and index (no store id contains a space). */
export const EVERY_STORE = 'every store'

/**
 * The Redis layout of subscriptions and their delivery history: one function per key, every key under
 * the namespace, every per-tenant key through contracts' `tenantKey` (where a cluster hash tag goes).
 * Only this package builds these keys; tests that look at Redis directly import this module
 * (`@arrivals/subscription-registry/layout`), sources never do.
 *
 * - `subscriptions(t)`  hash  subscriptionId → SubscriptionRecord JSON, one hash per tenant, so a
 *   tenant's subscriptions load in HSCAN pages and matching never scans other tenants.
 * - `fingerprints(t)`   hash  fingerprint → subscriptionId (a re-subscribe finds the existing one).
 * - `storeCounts(t)`    hash  storeId (or "every store") → how many subscriptions filter on it, for the
 *   per-store quota; kept by the create and remove scripts, rebuilt from the records when missing.
 * - `storeIndex(t, type, store)` set of the ids of the tenant's subscriptions to one event type on one
 *   store (`every store` for those without a store filter), kept by the create, replace and remove
 *   scripts in the same step as the record, so a reader finds an event's candidates with two set
 *   reads, never a tenant-wide load. The scripts build these keys from `storeIndexPrefix(t)` and the
 *   record (same hash tag, so the same cluster slot as the tenant's other keys).
 * - `indexed(t)`        "1" once the tenant's index is complete (`ensureIndexed` backfills records
 *   stored before the index existed, in HSCAN pages, then sets it).
 * - `version(t)`        counter, INCR on every change, with a PUBLISH on `subscriptionsChanged` in the same script: the tenant id,
 *   then (one change of one subscription) its id, event type and store, newline-separated, so readers
 *   drop just that subscription and its store's index entry.
 * - `attempts(s)`       list of AttemptRecord JSON, newest first, capped, expiring 30 days after the last.
 * - `failures(s)`       hash `count`, `since`: the current streak of consecutive failed attempts.
 * - `deadLetters(t)`    hash deadLetterId → DeadLetterRecord JSON, with `deadLettersByTime(t)`, a
 *   sorted set scored by dead-lettering time for listing, "since T" and trimming by age and size.
 * - `pipelineDeadLetters` capped list of dead letters that name no tenant (for the deployment's operators).
 *
 * `attempts` and `failures` are per subscription. In the single layout they keep today's names
 * (`namespace:attempts:s`); in the cluster layout they move under the tenant's hash tag, because the
 * removal script deletes them together with the tenant's hashes. `subscriptionsChanged` and
 * `pipelineDeadLetters` belong to no tenant: the registry README says where they live in a cluster.
 */
export function registryKeys(namespace: string, layout: KeyLayout = 'single') {
  const perSubscription = (kind: string) => (tenantId: string, subscriptionId: string) => layout === 'cluster'
    ? tenantKey(namespace, tenantId, `${kind}:${subscriptionId}`, layout)
    : `${namespace}:${kind}:${subscriptionId}`
  return {
    subscriptions: (tenantId: string) => tenantKey(namespace, tenantId, 'subscriptions', layout),
    fingerprints: (tenantId: string) => tenantKey(namespace, tenantId, 'fingerprints', layout),
    version: (tenantId: string) => tenantKey(namespace, tenantId, 'version', layout),
    storeCounts: (tenantId: string) => tenantKey(namespace, tenantId, 'subscriptions:per-store', layout),
    storeIndexPrefix: (tenantId: string) => tenantKey(namespace, tenantId, 'subscriptions:index:', layout),
    storeIndex: (tenantId: string, eventType: string, storeId: string | undefined) =>
      tenantKey(namespace, tenantId, `subscriptions:index:${eventType}:${storeId ?? EVERY_STORE}`, layout),
    indexed: (tenantId: string) => tenantKey(namespace, tenantId, 'subscriptions:indexed', layout),
    deadLetters: (tenantId: string) => tenantKey(namespace, tenantId, 'dead-letters', layout),
    deadLettersByTime: (tenantId: string) => tenantKey(namespace, tenantId, 'dead-letters:by-time', layout),
    attempts: perSubscription('attempts'),
    failures: perSubscription('failures'),
    subscriptionsChanged: `${namespace}:subscriptions:changed`,
    pipelineDeadLetters: `${namespace}:pipeline-dead-letters`,
  }
}
export type RegistryKeys = ReturnType<typeof registryKeys>

/** Bounds on the history kept per subscription and per tenant. */
export const historyLimits = {
  attemptsPerSubscription: 100,
  deadLettersPerTenant: 10_000,
  deadLetterMaxAgeMs: 14 * 24 * 3_600_000,
  /** Dead letters without a tenant, in one list for the whole deployment. */
  pipelineDeadLetters: 1_000,
  /** An attempt history and a failure streak nobody adds to expire this long after their last write. */
  historyTtlMs: 30 * 86_400_000,
} as const

/**
 * The keys of ordered delivery and of the flow rate, per subscription, under the tenant's hash tag
 * (so each script stays on one shard):
 * - `orderQueue(t, s, store)` list of deliveryIds of an ordered subscription's store, in publish
 *   order; its head is the delivery being made (a broker message always stands for it).
 * - `orderTasks(t, s, store)` hash deliveryId → DeliveryTask JSON of the deliveries waiting behind it.
 * - `flowBudget(t, s)` sorted set of budget reservations, member `<id>:<count>`, scored by when the
 *   reservation stops counting (its time + the window + how long its replica may spend it).
 * - `flowPause(t, s)` until when (ms) a receiver's 429 paused the subscription; expires then.
 * - `flowPaused` the channel every dispatcher follows for those pauses (`tenant subscription until`).
 * All expire `historyLimits.historyTtlMs` after their last write, or with their window.
 */
export function orderAndPaceKeys(namespace: string, layout: KeyLayout = 'single') {
  return {
    orderQueue: (tenantId: string, subscriptionId: string, store: string) => tenantKey(namespace, tenantId, `order:${subscriptionId}:${store}`, layout),
    orderTasks: (tenantId: string, subscriptionId: string, store: string) => tenantKey(namespace, tenantId, `order:${subscriptionId}:${store}:tasks`, layout),
    flowBudget: (tenantId: string, subscriptionId: string) => tenantKey(namespace, tenantId, `flow-budget:${subscriptionId}`, layout),
    flowPause: (tenantId: string, subscriptionId: string) => tenantKey(namespace, tenantId, `flow-pause:${subscriptionId}`, layout),
    flowPaused: `${namespace}:flow:paused`,
  }
}
export type OrderAndPaceKeys = ReturnType<typeof orderAndPaceKeys>
