import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { redactCredentials } from './settings.js'

/**
 * A Redis client that fails fast instead of hanging while Redis is away (a request becomes a 503,
 * readiness goes red) and reconnects with capped backoff on its own.
 */
export function createRedisClient(url: string, log: Pick<Logger, 'warn' | 'info'>, name: string): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    // A command waits for at most one reconnect before it fails (and the caller answers 503).
    maxRetriesPerRequest: 1,
    // No command hangs longer than this on a half-open connection.
    commandTimeout: 3_000,
    connectTimeout: 3_000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 5_000),
    lazyConnect: false,
  })
  let healthy = true
  redis.on('error', (error: Error) => {
    if (healthy) log.warn({ err: { message: error.message }, redis: redactCredentials(url) }, 'redis connection error')
    healthy = false
  })
  redis.on('ready', () => {
    if (!healthy) log.info('redis connection restored')
    healthy = true
  })
  return redis
}

/** True while Redis answers a PING. */
export async function redisAnswers(redis: Redis): Promise<boolean> {
  if (redis.status !== 'ready') return false
  return (await redis.ping().catch(() => '')) === 'PONG'
}

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis
  }
}

export interface RedisPluginOptions {
  url: string
  /** Shown by CLIENT LIST, so an operator can tell the services' connections apart. */
  connectionName: string
}

/** The service's one Redis client as the `redis` decorator: fails fast while Redis is away, quits on close. */
export const redisPlugin = fp(async (app: FastifyInstance, options: RedisPluginOptions) => {
  const redis = createRedisClient(options.url, app.log, options.connectionName)
  app.decorate('redis', redis)
  app.addHook('onClose', async () => {
    await redis.quit().catch(() => redis.disconnect())
  })
}, { name: 'redis' })
