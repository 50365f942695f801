import type { RedisClient } from '@arrivals/service-kit'
import { ShutdownError } from '../policies/concurrency-gate.js'
import type { Log, WaitOutRedisOutage } from '../ports.js'

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Retries a Redis operation for as long as Redis is away (the message stays held meanwhile; the
 * prefetch is the backpressure). A failure while Redis is up is tried a few times, then thrown, so
 * the message is rejected. A shutdown ends the wait: the message is handed back.
 */
export function redisOutageWaiter(redis: Pick<RedisClient, 'status'>, shutdown: AbortSignal, log: Log): WaitOutRedisOutage {
  return async function waitOutRedisOutage<T>(operation: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await operation()
      } catch (error) {
        if (shutdown.aborted) throw new ShutdownError('shutting down')
        if (redis.status === 'ready' && attempt >= 3) throw error
        if (attempt === 0) log.warn({ err: { message: (error as Error).message } }, 'redis operation failed; retrying')
      }
      await sleep(Math.min(50 * 2 ** attempt, 2_000))
    }
  }
}
