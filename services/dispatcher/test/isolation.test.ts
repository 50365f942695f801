import type { LookupAddress } from 'node:dns'
import type { DeadLetterRecord, SubscriptionRecord } from '@arrivals/contracts'
import { startReceiver, waitFor, type Receiver } from '@arrivals/test-kit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { atLeast, receipt, tenant, World } from './support.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('isolation: slow endpoints, circuit breaker, disabling', () => {
  const world = new World()
  let receiver: Receiver
  let slowInFlight = 0
  let slowMaxInFlight = 0
  let failingUntil = 0

  beforeAll(async () => {
    receiver = await startReceiver(async (request, response) => {
      if (request.path.startsWith('/slow')) {
        slowInFlight += 1
        slowMaxInFlight = Math.max(slowMaxInFlight, slowInFlight)
        await sleep(1_500)
        slowInFlight -= 1
        response.writeHead(200).end()
      } else if (request.path.startsWith('/flaky')) {
        response.writeHead(Date.now() < failingUntil ? 503 : 200).end()
      } else if (request.path.startsWith('/broken')) {
        response.writeHead(500).end()
      } else {
        response.writeHead(200).end()
      }
    })
    await world.start({ endpointConcurrency: 4, deliveryPrefetch: 16, deliveryConcurrency: 16, circuitFailureThreshold: 3, circuitOpenMs: 500, retryScheduleMs: [300, 600, 1200] })
  })
  afterAll(async () => {
    await world.close()
    await receiver.close()
  })

  it('a slow endpoint holds at most its cap and does not delay another subscription', async () => {
    const tenantId = tenant()
    await world.subscribe({ tenantId, url: `${receiver.url}/slow/${tenantId}` })
    await world.subscribe({ tenantId, url: `${receiver.url}/fast/${tenantId}` })
    const events = 24
    const published = new Map<string, number>()
    for (let n = 0; n < events; n++) {
      const event = receipt(tenantId)
      published.set(event.id, Date.now())
      await world.publish(event)
    }
    const fast = await atLeast(events, () => receiver.requests.filter((r) => r.path === `/fast/${tenantId}`), 'every fast delivery')
    const lags = fast.map((r) => r.receivedAt - published.get((JSON.parse(r.body) as { eventId: string }).eventId)!)
    // The slow endpoint takes 1.5 s per request; the fast one must not wait behind it.
    expect(Math.max(...lags)).toBeLessThan(1_000)
    expect(slowMaxInFlight).toBeGreaterThan(0)
    expect(slowMaxInFlight).toBeLessThanOrEqual(4)
    // And the slow one still gets everything, later.
    await atLeast(events, () => receiver.requests.filter((r) => r.path === `/slow/${tenantId}`), 'every slow delivery', 25_000)
  }, 40_000)

  it('an endpoint that is down holds new deliveries back without spending their attempts; all are delivered when it is back', async () => {
    const tenantId = tenant()
    const { id } = await world.subscribe({ tenantId, url: `${receiver.url}/flaky/${tenantId}` })
    failingUntil = Date.now() + 1_500
    const events = 8
    for (let n = 0; n < events; n++) await world.publish(receipt(tenantId))
    const delivered = await atLeast(events, async () => (await world.attempts(id)).filter((a) => a.outcome === 'delivered'), 'every flaky delivery', 20_000)
    expect(new Set(delivered.map((a) => a.deliveryId)).size).toBe(events)
    const attempts = await world.attempts(id)
    const held = attempts.filter((a) => a.outcome === 'circuit-open')
    expect(held.length).toBeGreaterThan(0)
    // Held back once per delivery in the history, however many rounds it waited.
    expect(new Set(held.map((a) => `${a.deliveryId}/${a.attempt}`)).size).toBe(held.length)
    expect(attempts.some((a) => a.outcome === 'gave-up')).toBe(false)
    expect(await world.redis.hlen(world.keys.deadLetters(tenantId))).toBe(0)
    // Without the breaker 8 deliveries × 3 attempts would all have hit the receiver while it failed.
    const failedRequests = attempts.filter((a) => a.outcome === 'retrying').length
    expect(failedRequests).toBeLessThan(events * 3)
  }, 30_000)
})

describe('disabling after sustained failure', () => {
  const world = new World()
  let receiver: Receiver

  beforeAll(async () => {
    receiver = await startReceiver((_request, response) => { response.writeHead(500).end() })
    await world.start({ disableAfterFailures: 3, disableAfterMs: 0, retryScheduleMs: [100, 100, 100, 100, 100], circuitFailureThreshold: 100 })
  })
  afterAll(async () => {
    await world.close()
    await receiver.close()
  })

  it('disables the subscription with a reason; its deliveries are skipped and recorded', async () => {
    const tenantId = tenant()
    const { id } = await world.subscribe({ tenantId, url: `${receiver.url}/broken` })
    await world.publish(receipt(tenantId))
    const record = await waitFor(async () => {
      const stored = JSON.parse((await world.redis.hget(world.keys.subscriptions(tenantId), id))!) as SubscriptionRecord
      return stored.status === 'disabled' ? stored : undefined
    }, { what: 'the subscription disabled' })
    expect(record.disabledReason).toMatch(/3 consecutive failed attempts.*HTTP 500/)
    expect(record.disabledAt).toBeDefined()
    const skipped = await atLeast(1, async () => (await world.attempts(id)).filter((a) => a.outcome === 'skipped'), 'a skipped attempt')
    expect(skipped[0]!.error).toMatch(/disabled/)
    // The delivery the disabling cut short is kept, so it can be redelivered once enabled again.
    const dead = await waitFor(async () => {
      const records = Object.values(await world.redis.hgetall(world.keys.deadLetters(tenantId))).map((json) => JSON.parse(json) as DeadLetterRecord)
      return records.find((r) => r.subscriptionId === id)
    }, { what: 'the dead letter of the cut-short delivery' })
    expect(dead).toMatchObject({ class: 'endpoint', attempts: 3, lastStatus: 500 })
    expect(dead.reason).toMatch(/not sent: the subscription is disabled: disabled after 3/)
    expect(dead.task).toMatchObject({ subscriptionId: id, attempt: 4 })
    const before = receiver.requests.length
    await world.publish(receipt(tenantId))
    await sleep(500)
    expect(receiver.requests.length).toBe(before)
  })
})

describe('SSRF at connect time', () => {
  const world = new World()
  let receiver: Receiver
  // A public-looking name that resolves to loopback, as a DNS-rebinding attacker would arrange.
  const rebinding = ((hostname: string, _options: unknown, callback: (error: null, addresses: LookupAddress[]) => void) => {
    callback(null, [{ address: '127.0.0.1', family: 4 }])
  }) as never

  beforeAll(async () => {
    receiver = await startReceiver()
    // The receiver's port is allowed (CALLBACK_ALLOWED_PORTS), so the address rule is what refuses.
    await world.start({ callbackAllowPrivate: false, callbackAllowedPorts: [Number(new URL(receiver.url).port)] }, { callbackLookup: rebinding })
  })
  afterAll(async () => {
    await world.close()
    await receiver.close()
  })

  it('refuses a callback whose host resolves to loopback, without calling it', async () => {
    const tenantId = tenant()
    const port = new URL(receiver.url).port
    const { id } = await world.subscribe({ tenantId, url: `https://flows.example.test:${port}/hook?sig=abc` })
    const { id: literalId } = await world.subscribe({ tenantId, url: `http://127.0.0.1:${port}/literal` })
    await world.publish(receipt(tenantId))
    const [refused] = await atLeast(1, () => world.attempts(id), 'the refused attempt')
    expect(refused).toMatchObject({ outcome: 'gave-up', status: null })
    expect(refused!.error).toMatch(/refusing to connect: flows\.example\.test resolves to 127\.0\.0\.1, a loopback address/)
    const [literal] = await atLeast(1, () => world.attempts(literalId), 'the refused literal address')
    expect(literal!.error).toMatch(/refused/)
    await sleep(200)
    expect(receiver.requests).toHaveLength(0)
  })
})
