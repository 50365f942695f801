import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createSecretBox, type SecretBoxKeys } from '@arrivals/contracts'
import { createSubscriptionRegistry, type SubscriptionQuotas } from '@arrivals/subscription-registry'
import { subscriptionStore, type SubscriptionStore } from '../../subscription-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    subscriptions: SubscriptionStore
  }
}

/** The tenant's subscriptions in Redis; callback URLs and secrets sealed with the encryption key. */
export default fp(async (app: FastifyInstance, options: { namespace: string; encryptionKey: SecretBoxKeys; quotas: SubscriptionQuotas }) => {
  const { subscriptions } = createSubscriptionRegistry({ redis: app.redis, namespace: options.namespace })
  app.decorate('subscriptions', subscriptionStore(subscriptions, createSecretBox(options.encryptionKey), options.quotas))
}, { name: 'subscription-store', dependencies: ['redis'] })
