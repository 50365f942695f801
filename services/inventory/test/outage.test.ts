import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, waitFor } from '@arrivals/test-kit'
import { build, EventQueue, Outage, postReceipt, receipt, tenant, testSettings } from './support.js'

// Outages are simulated with a TCP forwarder in front of the shared RabbitMQ and Redis: cutting it
// is, for the app, the dependency going away (connections dropped, new ones refused); restoring it
// is the dependency coming back on the same address. The shared servers are never touched.
const ns = createNamespace('inventory-outage')
const contoso = tenant('contoso')
let queue: EventQueue
const apps: FastifyInstance[] = []
const forwarders: Outage[] = []

beforeAll(async () => {
  queue = await EventQueue.open(ns)
})
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()))
  await Promise.all(forwarders.splice(0).map((forwarder) => forwarder.cut()))
  await queue.drain()
})
afterAll(async () => {
  await queue?.close()
  await ns.cleanup()
})

async function start(overrides: Parameters<typeof testSettings>[2]): Promise<FastifyInstance> {
  const app = await build(testSettings(ns, [contoso], overrides))
  apps.push(app)
  return app
}

async function forwarder(url: string, port: number): Promise<Outage> {
  const outage = await Outage.inFrontOf(url, port)
  forwarders.push(outage)
  return outage
}

const readiness = async (app: FastifyInstance) => {
  const response = await app.inject({ method: 'GET', url: '/readyz' })
  return { status: response.statusCode, checks: response.json().checks as Record<string, boolean> }
}

describe('RabbitMQ unreachable', () => {
  it('answers 503 with Retry-After within the confirm timeout, never 202; live but not ready', async () => {
    const app = await start({ amqpUrl: 'amqp://guest:guest@127.0.0.1:1', confirmTimeoutMs: 1_000 })
    const started = Date.now()
    const response = await postReceipt(app, contoso, 'store-1', receipt())
    expect(response.statusCode).toBe(503)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0)
    expect(response.json().message).toMatch(/not accepted: the message broker is unavailable or did not confirm it within 1000 ms; retry after \d+ s with the same Idempotency-Key/)
    expect(response.json().message).not.toContain('127.0.0.1')

    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200)
    expect(await readiness(app)).toEqual({ status: 503, checks: { rabbitmq: false, redis: true } })
    const metrics = await app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.body).toMatch(/inventory_events_published_total\{[^}]*outcome="unavailable"[^}]*\} 1/)
  })

  it('leaves an Idempotency-Key usable for the same body after a 503, and bound to it', async () => {
    const app = await start({ amqpUrl: 'amqp://guest:guest@127.0.0.1:1', confirmTimeoutMs: 1_000 })
    const key = randomUUID()
    expect((await postReceipt(app, contoso, 'store-1', receipt(), { 'idempotency-key': key })).statusCode).toBe(503)
    // Not "in progress" (409) and not a stored success: the same request may simply be retried.
    expect((await postReceipt(app, contoso, 'store-1', receipt(), { 'idempotency-key': key })).statusCode).toBe(503)
    expect((await postReceipt(app, contoso, 'store-1', receipt({ supplier: 'Other' }), { 'idempotency-key': key })).statusCode).toBe(422)
  })
})

describe('RabbitMQ goes away and comes back', () => {
  it('answers 503 during the outage, then reconnects on its own: readiness 503 → 200, receipts 202 again', async () => {
    const broker = await forwarder(ns.amqpUrl, 5672)
    const app = await start({ amqpUrl: broker.url(ns.amqpUrl), confirmTimeoutMs: 1_500 })
    expect((await postReceipt(app, contoso, 'store-1', receipt())).statusCode).toBe(202)
    expect((await readiness(app)).status).toBe(200)
    await queue.drain()

    await broker.cut()
    await waitFor(async () => (await readiness(app)).status === 503, { what: 'readiness to report RabbitMQ down' })
    const down = await postReceipt(app, contoso, 'store-1', receipt())
    expect(down.statusCode).toBe(503)
    expect(down.headers['retry-after']).toBeDefined()
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200)

    await broker.restore()
    await waitFor(async () => (await readiness(app)).status === 200, { what: 'readiness to recover', timeoutMs: 15_000 })
    const after = await postReceipt(app, contoso, 'store-1', receipt())
    expect(after.statusCode).toBe(202)
    const { event } = await queue.only()
    expect(event.id).toBe(after.json().eventId)
  })

  it('answers 503 when the confirm is lost; the retry with the same Idempotency-Key carries the same event id', async () => {
    const broker = await forwarder(ns.amqpUrl, 5672)
    const app = await start({ amqpUrl: broker.url(ns.amqpUrl), confirmTimeoutMs: 800 })
    await waitFor(async () => (await readiness(app)).status === 200, { what: 'readiness' })

    // The broker gets the event but its confirm never reaches us.
    broker.loseAnswers()
    const key = randomUUID()
    const started = Date.now()
    const lost = await postReceipt(app, contoso, 'store-9', receipt(), { 'idempotency-key': key })
    expect(lost.statusCode).toBe(503)
    // It waited for the confirm (the connection was fine), and no longer than the timeout allows.
    expect(Date.now() - started).toBeGreaterThanOrEqual(790)
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(lost.json().message).toMatch(/did not confirm it within 800 ms/)
    const metrics = await app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.body).toMatch(/inventory_publish_duration_seconds_count\{[^}]*outcome="unavailable"[^}]*\} 1/)

    await broker.cut()
    await broker.restore()
    const retried = await waitFor(async () => {
      const response = await postReceipt(app, contoso, 'store-9', receipt(), { 'idempotency-key': key })
      return response.statusCode === 202 ? response : undefined
    }, { what: 'the retry to be accepted', timeoutMs: 15_000, intervalMs: 200 })

    // At-least-once: the broker may hold the first copy too, but both carry one id, so the
    // dispatcher's webhook-id (derived from it) lets receivers drop the duplicate.
    const events = await waitFor(async () => {
      const all = (await queue.events()).map((e) => e.event.id)
      return all.length ? all : undefined
    })
    expect(new Set(events)).toEqual(new Set([retried.json().eventId]))
  })
})

describe('Redis goes away and comes back', () => {
  it('answers 503 and publishes nothing while Redis is down; recovers on its own', async () => {
    const store = await forwarder(ns.redisUrl, 6379)
    const app = await start({ redisUrl: store.url(ns.redisUrl) })
    expect((await postReceipt(app, contoso, 'store-1', receipt())).statusCode).toBe(202)
    await queue.drain()

    await store.cut()
    await waitFor(async () => (await readiness(app)).status === 503, { what: 'readiness to report Redis down' })
    expect((await readiness(app)).checks).toEqual({ rabbitmq: true, redis: false })
    for (const headers of [{}, { 'idempotency-key': randomUUID() }] as Record<string, string>[]) {
      const response = await postReceipt(app, contoso, 'store-1', receipt(), headers)
      expect(response.statusCode, response.body).toBe(503)
      expect(response.headers['retry-after']).toBeDefined()
    }
    const stores = await app.inject({ method: 'GET', url: '/v1/stores', headers: { 'x-api-key': contoso.apiKey } })
    expect(stores.statusCode).toBe(503)
    expect(await queue.count()).toBe(0)
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200)

    await store.restore()
    await waitFor(async () => (await readiness(app)).status === 200, { what: 'readiness to recover', timeoutMs: 20_000 })
    expect((await postReceipt(app, contoso, 'store-1', receipt())).statusCode).toBe(202)
    expect(await queue.count()).toBe(1)
  })
})
