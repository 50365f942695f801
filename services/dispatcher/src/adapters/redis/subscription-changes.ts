import type { Failures, Subscriptions } from '@arrivals/subscription-registry'
import type { SubscriptionChanger } from '../../ports.js'

/**
 * The only changes the dispatcher makes to subscriptions (the subscriptions service owns them), through
 * the registry: count a failure, disable after a sustained streak (one compare-and-set that also clears
 * the streak; a concurrent change wins), remove after 410 Gone (the record, its fingerprint, attempt
 * history and streak). Each change bumps the tenant's version and publishes it in the same script.
 */
export function subscriptionChanges(subscriptions: Pick<Subscriptions, 'disableAfterFailures' | 'remove'>, failures: Pick<Failures, 'record'>): SubscriptionChanger {
  return {
    recordFailure: (tenantId, subscriptionId, now) => failures.record(tenantId, subscriptionId, now),
    disable: (tenantId, subscriptionId, reason) => subscriptions.disableAfterFailures(tenantId, subscriptionId, reason),
    remove: (tenantId, subscriptionId) => subscriptions.remove(tenantId, subscriptionId),
  }
}
