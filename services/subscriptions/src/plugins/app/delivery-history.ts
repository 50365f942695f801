import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { createSubscriptionRegistry, type SubscriptionRegistry } from '@arrivals/subscription-registry'

/** What the dispatcher recorded, read (and dead letters removed) for operators. */
export type DeliveryHistory = Pick<SubscriptionRegistry, 'attempts' | 'deadLetters'>

declare module 'fastify' {
  interface FastifyInstance {
    history: DeliveryHistory
  }
}

/** Attempts and dead letters the dispatcher recorded, for the operator API. */
export default fp(async (app: FastifyInstance, options: { namespace: string }) => {
  const { attempts, deadLetters } = createSubscriptionRegistry({ redis: app.redis, namespace: options.namespace })
  app.decorate('history', { attempts, deadLetters })
}, { name: 'delivery-history', dependencies: ['redis'] })
