import { tenantKey } from '@arrivals/contracts'

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
 * - `version(t)`        counter, INCR on every change, with a PUBLISH of the tenant id on
 *   `subscriptionsChanged` in the same script, so readers cache a tenant and drop it on change.
 * - `attempts(s)`       list of AttemptRecord JSON, newest first, capped, expiring 30 days after the last.
 * - `failures(s)`       hash `count`, `since`: the current streak of consecutive failed attempts.
 * - `deadLetters(t)`    hash deadLetterId → DeadLetterRecord JSON, with `deadLettersByTime(t)`, a
 *   sorted set scored by dead-lettering time for listing, "since T" and trimming by age and size.
 * - `pipelineDeadLetters` capped list of dead letters that name no tenant (for the deployment's operators).
 *
 * `attempts` and `failures` are per subscription, not per tenant: a cluster layout must move them
 * under the tenant, which is why the registry's API already takes the tenant id for them.
 */
export function registryKeys(namespace: string) {
  return {
    subscriptions: (tenantId: string) => tenantKey(namespace, tenantId, 'subscriptions'),
    fingerprints: (tenantId: string) => tenantKey(namespace, tenantId, 'fingerprints'),
    version: (tenantId: string) => tenantKey(namespace, tenantId, 'version'),
    storeCounts: (tenantId: string) => tenantKey(namespace, tenantId, 'subscriptions:per-store'),
    deadLetters: (tenantId: string) => tenantKey(namespace, tenantId, 'dead-letters'),
    deadLettersByTime: (tenantId: string) => tenantKey(namespace, tenantId, 'dead-letters:by-time'),
    attempts: (_tenantId: string, subscriptionId: string) => `${namespace}:attempts:${subscriptionId}`,
    failures: (_tenantId: string, subscriptionId: string) => `${namespace}:failures:${subscriptionId}`,
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
