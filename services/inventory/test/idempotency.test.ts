import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createNamespace, waitFor } from '@arrivals/test-kit'
import { idempotencyStore } from '../src/plugins/app/idempotency.js'

const ns = createNamespace('inventory-idempotency')
const clients: Redis[] = []
afterAll(async () => {
  clients.forEach((client) => client.disconnect())
  await ns.cleanup()
})

function store(leaseMs: number) {
  const redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: false })
  clients.push(redis)
  return { redis, idempotency: idempotencyStore(redis, { namespace: ns.namespace, ttlSeconds: 60, pendingLeaseMs: leaseMs, pendingMaxMs: 30_000 }) }
}

describe('a pending Idempotency-Key claim is a lease its request renews', () => {
  it('a live request keeps its key well past the lease; once it is settled the answer is replayed', async () => {
    const owner = store(300)
    const other = store(300)
    const claim = await owner.idempotency.claim('contoso', 'live-1', 'hash-a')
    expect(claim.outcome).toBe('claimed')
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect((await other.idempotency.claim('contoso', 'live-1', 'hash-a')).outcome).toBe('in-progress')
    if (claim.outcome === 'claimed') await claim.complete({ eventId: 'evt-1' })
    expect(await other.idempotency.claim('contoso', 'live-1', 'hash-a')).toEqual({ outcome: 'replay', answer: { eventId: 'evt-1' } })
  })

  it('the claim of a request that died (its Redis connection gone) frees the key within the lease, not 30 s', async () => {
    const dying = store(400)
    const other = store(400)
    expect((await dying.idempotency.claim('contoso', 'dead-1', 'hash-a')).outcome).toBe('claimed')
    dying.redis.disconnect()
    expect((await other.idempotency.claim('contoso', 'dead-1', 'hash-a')).outcome).toBe('in-progress')
    const started = Date.now()
    await waitFor(async () => (await other.idempotency.claim('contoso', 'dead-1', 'hash-a')).outcome === 'claimed', { timeoutMs: 5_000, intervalMs: 50, what: 'the key free again' })
    expect(Date.now() - started).toBeLessThan(1_500)
  })
})
