import { keyLayoutOf } from '@arrivals/contracts'
import { attempts, deadLetters, failures, type Attempts, type DeadLetters, type Failures } from './history.js'
import { registryKeys } from './layout.js'
import { subscriptions, type RedisClient, type Subscriptions } from './subscriptions.js'

export interface SubscriptionRegistry {
  subscriptions: Subscriptions
  attempts: Attempts
  failures: Failures
  deadLetters: DeadLetters
}

/**
 * Subscriptions and their delivery history in Redis, for both services. It holds no state beyond the
 * client it is given (which it never closes), so creating one per user is free.
 */
export function createSubscriptionRegistry({ redis, namespace }: { redis: RedisClient; namespace: string }): SubscriptionRegistry {
  // The layout follows the client: hash tags on a cluster, today's names on one Redis.
  const keys = registryKeys(namespace, keyLayoutOf(redis))
  return {
    subscriptions: subscriptions(redis, keys),
    attempts: attempts(redis, keys),
    failures: failures(redis, keys),
    deadLetters: deadLetters(redis, keys),
  }
}
