import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import amqp, { type Channel, type ChannelModel } from 'amqplib'
import { createNamespace, type TestNamespace } from '@arrivals/test-kit'
import { catalogue, DELIVERY_ROUTING_KEY, topologyNames } from '@arrivals/contracts'
import { Stack, printLogsOnFailure } from '@arrivals/e2e/harness'
import { fuzzService } from '../src/fuzz-service.js'
import { FUZZ_CALLBACK_HOSTS } from '../src/schema-arbitrary.js'

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
/** Delivery ids that 2xx answers of test, replay and redeliver announced: the only manual tasks allowed. */
const announcedDeliveryIds = new Set<string>()

beforeAll(async () => {
  ns = createNamespace('fuzz')
  stack = await Stack.start({
    amqpUrl: ns.amqpUrl, redisUrl: ns.redisUrl, namespace: ns.namespace, logLevel: 'warn',
    // Generated callback URLs must never make the dispatcher call into this machine: it keeps the
    // SSRF rules, so a callback on the allowed (unresolvable) host is refused at connect time.
    // A rate limit well above the run, so requests reach validation instead of 429s.
    env: {
      inventory: { RATE_LIMIT_PER_MINUTE: '1000000' },
      // Callbacks only on a host that never resolves: subscribes succeed, deliveries reach nothing.
      subscriptions: { CALLBACK_ALLOW_PRIVATE: 'true', CALLBACK_ALLOWED_HOSTS: FUZZ_CALLBACK_HOSTS, RATE_LIMIT_PER_MINUTE: '1000000' },
      dispatcher: { CALLBACK_ALLOW_PRIVATE: 'false' },
    },
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

describe('fuzzing every service from its own OpenAPI document', () => {
  for (const service of ['inventory', 'subscriptions', 'dispatcher'] as const) {
    it(`${service}: thousands of generated and mutated requests, no 5xx, no crash`, async () => {
      const target = stack.processes.find((p) => p.service === service)!
      const outcome = await fuzzService(target, [stack.tenants.a.apiKey, stack.tenants.b.apiKey], RUNS_PER_SERVICE)
      expect(outcome.answered).toBeGreaterThan(RUNS_PER_SERVICE * 0.8)
      // Routes come from the document, so a new one is fuzzed without a list to update: each event
      // type's recording route and trigger are in the mix.
      const expected = { inventory: ['recordGoodsReceipt', 'recordStockAdjustment'], subscriptions: catalogue.map((entry) => entry.trigger.operationId), dispatcher: [] }
      expect(outcome.operationIds).toEqual(expect.arrayContaining(expected[service]))
      for (const id of outcome.acceptedEventIds) acceptedEventIds.add(id)
      for (const id of outcome.announcedDeliveryIds) announcedDeliveryIds.add(id)
      expect(stack.deadProcesses()).toEqual([])
    })
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

    // Tasks the subscriptions service published itself (not the fan-out's, and not copies coming
    // back from a retry tier, which carry the broker's x-death header).
    const manualTasks: string[] = []
    for (let message = await channel.get(observed.tasks, { noAck: true }); message; message = await channel.get(observed.tasks, { noAck: true })) {
      const task = JSON.parse(message.content.toString()) as { origin?: string; deliveryId?: string }
      if (task.origin !== 'event' && !message.properties.headers?.['x-death']) manualTasks.push(String(task.deliveryId))
    }
    expect(manualTasks.filter((id) => !announcedDeliveryIds.has(id)), 'delivery tasks no 2xx test/replay/redeliver answer announced').toEqual([])
  })
})
