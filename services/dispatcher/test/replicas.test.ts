import { topologyNames } from '@arrivals/contracts'
import { startReceiver, waitFor, type Receiver } from '@arrivals/test-kit'
import amqp from 'amqplib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { atLeast, receipt, tenant, World } from './support.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function deliveredBy(app: Awaited<ReturnType<typeof buildApp>>): Promise<number> {
  const metric = await app.dispatcher.registry.getSingleMetric('dispatcher_deliveries_total')?.get()
  return metric?.values.find((value) => value.labels.outcome === 'delivered')?.value ?? 0
}

describe('replicas, readiness and metrics', () => {
  const world = new World()
  let receiver: Receiver

  beforeAll(async () => {
    receiver = await startReceiver(async (_request, response) => {
      await sleep(5)
      response.writeHead(200).end()
    })
  })
  afterAll(async () => {
    await world.close()
    await receiver.close()
  })

  it('is not ready before it consumes, and ready once it does', async () => {
    const idle = await buildApp(world.settings(), { start: false })
    try {
      const response = await idle.inject({ method: 'GET', url: '/readyz' })
      expect(response.statusCode).toBe(503)
      expect(response.json()).toMatchObject({ checks: { consuming: false } })
      expect((await idle.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200)
    } finally {
      await idle.close()
    }
    const app = await world.start({}, { name: 'replica-1' })
    const response = await app.inject({ method: 'GET', url: '/readyz' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ready', checks: { consuming: true, redis: true } })
  })

  it('two dispatchers consuming in parallel deliver each task exactly once and share the work', async () => {
    const second = await world.start({}, { name: 'replica-2' })
    const first = world.apps.find((app) => app !== second)!
    const tenantId = tenant()
    await world.subscribe({ tenantId, url: `${receiver.url}/shared/${tenantId}` })
    const events = 60
    for (let n = 0; n < events; n++) await world.publish(receipt(tenantId))
    const requests = await atLeast(events, () => receiver.requests.filter((r) => r.path === `/shared/${tenantId}`), 'every delivery', 20_000)
    await sleep(500)
    const all = receiver.requests.filter((r) => r.path === `/shared/${tenantId}`)
    expect(all).toHaveLength(events)
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(events)
    expect(await deliveredBy(first)).toBeGreaterThan(0)
    expect(await deliveredBy(second)).toBeGreaterThan(0)
  })

  it('exports delivery metrics', async () => {
    const response = await world.apps[0]!.inject({ method: 'GET', url: '/metrics' })
    expect(response.statusCode).toBe(200)
    for (const name of [
      'dispatcher_deliveries_total{outcome="delivered"',
      'dispatcher_attempt_duration_seconds_bucket',
      'dispatcher_event_to_delivery_seconds_bucket',
      'dispatcher_consumer_up{consumer="deliveries"',
      'dispatcher_open_circuits',
      'dispatcher_events_total{result="fanned-out"',
    ]) expect(response.body).toContain(name)
  })
})

describe('graceful shutdown', () => {
  const world = new World()
  let receiver: Receiver
  let delayMs = 0

  beforeAll(async () => {
    receiver = await startReceiver(async (_request, response) => {
      await sleep(delayMs)
      response.writeHead(200).end()
    })
  })
  afterAll(async () => {
    await world.close()
    await receiver.close()
  })

  async function queued(queue = topologyNames(world.ns.namespace).deliveriesQueue): Promise<number> {
    const connection = await amqp.connect(world.ns.amqpUrl)
    try {
      const channel = await connection.createChannel()
      return (await channel.checkQueue(queue)).messageCount
    } finally {
      await connection.close()
    }
  }

  it('finishes an in-flight delivery within the drain deadline', async () => {
    delayMs = 300
    const app = await world.start({ drainTimeoutMs: 5_000 })
    const tenantId = tenant()
    const { id } = await world.subscribe({ tenantId, url: `${receiver.url}/finish/${tenantId}` })
    await world.publish(receipt(tenantId))
    await atLeast(1, () => receiver.requests.filter((r) => r.path === `/finish/${tenantId}`), 'the request')
    await app.close()
    const attempts = await world.attempts(id)
    expect(attempts[0]).toMatchObject({ outcome: 'delivered', status: 200 })
    expect(await queued()).toBe(0)
  })

  for (const inline of [false, true]) {
    const where = inline ? 'the event back in the events queue (first attempt inline)' : 'the task back in the deliveries queue'
    it(`hands back what it cannot finish by the deadline: ${where}; another dispatcher delivers it with the same webhook-id`, async () => {
      delayMs = 4_000
      const app = await world.start({ drainTimeoutMs: 300, deliveryTimeoutMs: 10_000, firstAttemptInline: inline })
      const tenantId = tenant()
      await world.subscribe({ tenantId, url: `${receiver.url}/unfinished/${inline}/${tenantId}` })
      await world.publish(receipt(tenantId))
      const path = `/unfinished/${inline}/${tenantId}`
      const [first] = await atLeast(1, () => receiver.requests.filter((r) => r.path === path), 'the hanging request')
      const started = Date.now()
      await app.close()
      expect(Date.now() - started).toBeLessThan(3_000)
      const names = topologyNames(world.ns.namespace)
      await waitFor(async () => (await queued(inline ? names.dispatcherEventsQueue : names.deliveriesQueue)) === 1, { what: where })

      delayMs = 0
      const next = await world.start({ firstAttemptInline: inline })
      const requests = await atLeast(2, () => receiver.requests.filter((r) => r.path === path), 'the redelivery')
      expect(requests[1]!.headers['webhook-id']).toBe(first!.headers['webhook-id'])
      await next.close()
    })
  }
})
