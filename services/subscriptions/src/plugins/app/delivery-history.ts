import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { deliveryHistory, type DeliveryHistory } from '../../delivery-history.js'

declare module 'fastify' {
  interface FastifyInstance {
    history: DeliveryHistory
  }
}

/** Attempts and dead letters the dispatcher recorded, for the operator API. */
export default fp(async (app: FastifyInstance, options: { namespace: string }) => {
  app.decorate('history', deliveryHistory(app.redis, options.namespace))
}, { name: 'delivery-history', dependencies: ['redis'] })
