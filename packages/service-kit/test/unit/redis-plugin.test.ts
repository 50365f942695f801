import Fastify from 'fastify'
import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { redisPlugin } from '../../src/index.js'

describe('redisPlugin', () => {
  it('decorates the app with one named client that fails fast while Redis is away, and stops it on close', async () => {
    const app = Fastify()
    // Nothing listens on port 1: the client keeps reconnecting in the background.
    await app.register(redisPlugin, { url: 'redis://127.0.0.1:1', connectionName: 'arrivals-test' })
    await app.ready()
    expect((app.redis as Redis).options.connectionName).toBe('arrivals-test')
    await expect(app.redis.get('anything')).rejects.toThrow()
    const started = Date.now()
    await app.close()
    expect(Date.now() - started).toBeLessThan(2_000)
    // Closed for good: no more reconnect attempts (the first retry would come after 200 ms).
    let attempts = 0
    app.redis.on('reconnecting', () => attempts++)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(attempts).toBe(0)
  })
})
