import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { createRedisClient } from '@arrivals/service-kit'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis
  }
}

/** The service's Redis client (subscriptions, history, stores): fails fast while Redis is away. */
export default fp(async (app: FastifyInstance, options: { url: string }) => {
  const redis = createRedisClient(options.url, app.log, 'arrivals-subscriptions')
  app.decorate('redis', redis)
  app.addHook('onClose', async () => {
    await redis.quit().catch(() => redis.disconnect())
  })
}, { name: 'redis' })
