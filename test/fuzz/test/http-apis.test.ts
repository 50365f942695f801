import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import amqp, { type Channel, type ChannelModel } from 'amqplib'
import { Client } from 'undici'
import { createNamespace, type TestNamespace } from '@arrivals/test-kit'
import { DELIVERY_ROUTING_KEY, topologyNames } from '@arrivals/contracts'
import { Stack, printLogsOnFailure, type ServiceName } from '@arrivals/e2e/harness'
import { operationsOf } from '../src/openapi.js'
import { requestArbitrary, type FuzzRequest } from '../src/requests.js'

// Thousands of requests per service, generated from the service's own OpenAPI document and mutated
// out of it. Properties: no 5xx, no process dies, and nothing is published for a refused request.
const RUNS_PER_SERVICE = 1_500

let ns: TestNamespace
let stack: Stack
let observer: ChannelModel
let channel: Channel
const observed = { events: 'fuzz-observed-events', tasks: 'fuzz-observed-tasks' }
/** Event ids the inventory answered 202 for; only these may appear on the exchange. */
const acceptedEventIds = new Set<string>()
/** 2xx answers to operations that may publish a delivery task (test, replay, redeliver). */
let taskPublishingSuccesses = 0

beforeAll(async () => {
  ns = createNamespace('fuzz')
  stack = await Stack.start({
    amqpUrl: ns.amqpUrl, redisUrl: ns.redisUrl, namespace: ns.namespace, logLevel: 'warn',
    // Generated callback URLs must never make the dispatcher call into this machine.
    env: { subscriptions: { CALLBACK_ALLOW_PRIVATE: 'false' }, dispatcher: { CALLBACK_ALLOW_PRIVATE: 'false' } },
  })
  // Copies of everything published: every event, every delivery task.
  const names = topologyNames(ns.namespace)
  observer = await amqp.connect(ns.amqpUrl)
  channel = await observer.createChannel()
  observed.events = (await channel.assertQueue('', { exclusive: true, autoDelete: true })).queue
  observed.tasks = (await channel.assertQueue('', { exclusive: true, autoDelete: true })).queue
  await channel.bindQueue(observed.events, names.eventsExchange, '#')
  await channel.bindQueue(observed.tasks, names.deliveriesExchange, DELIVERY_ROUTING_KEY)
})

afterAll(async () => {
  await observer?.close().catch(() => {})
  await stack?.stop()
  await ns?.cleanup({ retryDelaysMs: [200, 500, 1000] })
})

printLogsOnFailure(() => stack?.logs())

function describeRequest(request: FuzzRequest): string {
  const body = request.body === undefined ? '' : ` body(${request.body.length}): ${request.body.slice(0, 300)}`
  return `${request.method} ${request.target.slice(0, 300)} [${request.kind}] headers ${JSON.stringify(request.headers).slice(0, 300)}${body}`
}

async function fuzz(service: ServiceName): Promise<{ sent: number; statuses: Map<number, number> }> {
  const target = stack.processes.find((p) => p.service === service)!
  const docs = await fetch(`${target.url}/docs/json`)
  expect(docs.status, `${service} serves its OpenAPI document at /docs/json`).toBe(200)
  const operations = operationsOf(await docs.json() as Record<string, unknown>)
  expect(operations.length).toBeGreaterThan(0)

  const client = new Client(target.url, { headersTimeout: 15_000, bodyTimeout: 15_000 })
  const statuses = new Map<number, number>()
  let sent = 0
  try {
    await fc.assert(fc.asyncProperty(requestArbitrary(operations, { keys: [stack.tenants.a.apiKey, stack.tenants.b.apiKey] }), async (request) => {
      let response
      try {
        response = await client.request({ method: request.method as 'GET', path: request.target, headers: request.headers, body: request.body })
      } catch (error) {
        const code = (error as { code?: string }).code ?? ''
        // The client refused to send it (an invalid header or path): nothing reached the service.
        if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_CHAR' || code === 'ERR_INVALID_ARG_VALUE') return
        // The service closed the connection on a malformed request: fine, as long as it is alive.
        expect(target.running, `${service} died on ${describeRequest(request)}`).toBe(true)
        return
      }
      const text = await response.body.text()
      sent++
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
      expect(response.statusCode, `${describeRequest(request)} → ${text.slice(0, 500)}`).toBeLessThan(500)
      if (response.statusCode >= 400) expect(text.length, `a ${response.statusCode} says what to fix: ${describeRequest(request)}`).toBeGreaterThan(0)
      if (response.statusCode === 202) {
        const eventId = (JSON.parse(text) as { eventId?: unknown }).eventId
        if (typeof eventId === 'string') acceptedEventIds.add(eventId)
      }
      if (response.statusCode < 300 && request.method === 'POST' && /\/(test|replay|redeliver)(\?|$)/.test(request.target)) taskPublishingSuccesses++
    }), { numRuns: RUNS_PER_SERVICE, endOnFailure: true })
  } finally {
    await client.close()
  }
  expect(stack.deadProcesses()).toEqual([])
  console.info(`fuzz ${service}: ${sent} requests answered, statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
  return { sent, statuses }
}

describe('fuzzing every service from its own OpenAPI document', () => {
  for (const service of ['inventory', 'subscriptions', 'dispatcher'] as const) {
    it(`${service}: thousands of generated and mutated requests, no 5xx, no crash`, async () => {
      const { sent } = await fuzz(service)
      expect(sent).toBeGreaterThan(RUNS_PER_SERVICE * 0.8)
    }, 240_000)
  }

  it('published nothing for a refused request', async () => {
    // Give in-flight confirms a moment, then read every copy.
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const published: string[] = []
    for (let message = await channel.get(observed.events, { noAck: true }); message; message = await channel.get(observed.events, { noAck: true })) {
      published.push(String(message.properties.messageId ?? (JSON.parse(message.content.toString()) as { id: string }).id))
    }
    const strays = published.filter((id) => !acceptedEventIds.has(id))
    expect(strays, 'events on the exchange that no 202 answered for').toEqual([])
    expect(new Set(published).size).toBe(acceptedEventIds.size)

    let manualTasks = 0
    for (let message = await channel.get(observed.tasks, { noAck: true }); message; message = await channel.get(observed.tasks, { noAck: true })) {
      const origin = (JSON.parse(message.content.toString()) as { origin?: string }).origin
      if (origin !== 'event') manualTasks++
    }
    expect(manualTasks, 'delivery tasks published without a 2xx test/replay/redeliver answer').toBeLessThanOrEqual(taskPublishingSuccesses)
  })
})
