import { goodsReceivedEvent, toNotification, type DeliveryTask } from '@arrivals/contracts'
import { describe, expect, it } from 'vitest'
import { FlowPace } from '../../src/policies/flow-pace.js'
import { parseFlowRateLimit } from '../../src/settings.js'
import { archiveDeadLetter } from '../../src/stages/archive.js'
import { deliver, type DeliverContext } from '../../src/stages/deliver.js'
import { fanOut, type FanOutContext } from '../../src/stages/fan-out.js'
import type { OrderContext } from '../../src/stages/order.js'
import { deliverWorld, FakeBudgets, FakeOrder, message, status, subscription, TENANT, type FakeWebhooks } from './fakes.js'

// Ordered delivery and the flow rate, decision by decision, on the fakes of the ports.

const queued = (ctx: DeliverContext, body: DeliveryTask) => deliver(ctx, { kind: 'message', message: message(body) })

function storeEvent(storeId: string, n: number) {
  return goodsReceivedEvent({
    tenantId: TENANT,
    source: 'urn:arrivals:unit',
    data: {
      receiptId: `rcpt-${storeId}-${n}`, storeId, storeName: storeId, supplier: 'Supplies', receivedAt: new Date().toISOString(),
      items: [{ sku: 'SKU-1', quantity: 5, name: 'Product', unit: 'case' }], totalQuantity: 5,
    },
  })
}

function orderedWorld(options: { answers?: ConstructorParameters<typeof FakeWebhooks>; inline?: boolean } = {}) {
  const world = deliverWorld({ subscriptions: [subscription('sub_ordered', { ordered: true }), subscription('sub_plain')], ...(options.answers ? { answers: options.answers } : {}) })
  const order = new FakeOrder()
  const orderCtx: OrderContext = { queue: order, tasks: world.queue, metrics: world.metrics, log: world.ctx.log, waitOutRedisOutage: world.ctx.waitOutRedisOutage }
  world.ctx.order = orderCtx
  const fanOutCtx: FanOutContext = {
    subscriptions: world.subscriptions, tasks: world.queue, deadLetters: world.queue, metrics: world.metrics, log: world.ctx.log,
    waitOutRedisOutage: world.ctx.waitOutRedisOutage, order: orderCtx,
  }
  if (options.inline !== false) fanOutCtx.inline = world.ctx
  const held = async (reason: string) => (await world.metrics.held.get()).values.find((value) => value.labels.reason === reason)?.value ?? 0
  const sentTo = (id: string) => world.webhooks.sent.filter((request) => request.url.includes(`/${id}?`))
  return { ...world, order, fanOutCtx, held, sentTo }
}

describe('ordered delivery', () => {
  it('sends only the head of a store: later events of that store wait in the queue, other stores and unordered subscriptions go', async () => {
    let failed = false
    // The ordered subscription's first request fails; everything else succeeds.
    const answer = async (request: { url: string }) => {
      if (failed || !request.url.includes('/sub_ordered?')) return status(200)
      failed = true
      return status(503)
    }
    const world = orderedWorld({ answers: Array.from({ length: 10 }, () => answer) })
    // store-1's first delivery to the ordered subscription fails inline (a retry is scheduled, it stays the head).
    await fanOut(world.fanOutCtx, message(storeEvent('store-1', 1)))
    await fanOut(world.fanOutCtx, message(storeEvent('store-1', 2)))
    await fanOut(world.fanOutCtx, message(storeEvent('store-2', 1)))
    expect(world.sentTo('sub_ordered').map((request) => JSON.parse(request.body).receiptId)).toEqual(['rcpt-store-1-1'])
    expect(world.sentTo('sub_plain')).toHaveLength(3)
    expect(world.queue.scheduled.map(({ task, reason }) => [receipt(task), task.attempt, reason])).toEqual([['rcpt-store-1-1', 2, 'retry']])
    // store-2 goes at once (as a task: the endpoint just failed, so no inline attempt); store-1's second waits.
    expect(world.queue.published.map((task) => [task.subscriptionId, receipt(task), task.orderKey])).toEqual([['sub_ordered', 'rcpt-store-2-1', 'store-2']])
    expect(await world.held('ordered')).toBe(1)
    expect(world.order.queues.get('sub_ordered/store-1')!.ids).toHaveLength(2)

    // The retry of the head is delivered: only then is store-1's second one published.
    const retry = world.queue.scheduled[0]!.task
    expect(retry.orderKey).toBe('store-1')
    expect(await queued(world.ctx, retry)).toBe('delivered')
    expect(world.queue.published.slice(1).map((task) => [receipt(task), task.attempt])).toEqual([['rcpt-store-1-2', 1]])
    expect(await queued(world.ctx, world.queue.published[1]!)).toBe('delivered')
    expect(world.order.queues.get('sub_ordered/store-1')!.ids).toEqual([])
  })

  it('a dead-lettered head lets the next one go, and its dead letter says the later ones went on without it', async () => {
    const world = orderedWorld({ answers: [status(500)], inline: false })
    await fanOut(world.fanOutCtx, message(storeEvent('store-1', 1)))
    await fanOut(world.fanOutCtx, message(storeEvent('store-1', 2)))
    const head = world.queue.published.find((task) => task.subscriptionId === 'sub_ordered')!
    expect(world.queue.published.filter((task) => task.subscriptionId === 'sub_ordered')).toHaveLength(1)
    expect(await queued(world.ctx, { ...head, attempt: 4 })).toBe('gave-up')
    expect(world.queue.deadLettered).toHaveLength(1)
    expect(world.queue.deadLettered[0]!.reason).toMatch(/^retries exhausted after 4 attempts; last: HTTP 500; ordered delivery: the later deliveries of store store-1 went on without this one$/)
    const next = world.queue.published.filter((task) => task.subscriptionId === 'sub_ordered')
    expect(next.map((task) => receipt(task))).toEqual(['rcpt-store-1-1', 'rcpt-store-1-2'])
  })

  it('drops a stale copy behind the head, sends one the queue no longer knows, and sends replays without asking', async () => {
    const world = orderedWorld({ inline: false })
    await fanOut(world.fanOutCtx, message(storeEvent('store-1', 1)))
    await fanOut(world.fanOutCtx, message(storeEvent('store-1', 2)))
    const [first, second] = [...world.order.queues.get('sub_ordered/store-1')!.tasks.values()]
    expect(await queued(world.ctx, second!)).toBe('duplicate')
    expect(world.webhooks.sent).toHaveLength(0)
    expect(world.attempts.records).toEqual([])

    expect(await queued(world.ctx, first!)).toBe('delivered')
    // A late copy of the first (released already): sent again with its webhook-id rather than lost.
    expect(await queued(world.ctx, first!)).toBe('delivered')
    expect(world.webhooks.sent.map((request) => request.headers['webhook-id'])).toEqual([first!.deliveryId, first!.deliveryId])

    const asked = world.order.asked.length
    expect(await queued(world.ctx, { ...second!, origin: 'replay' })).toBe('delivered')
    expect(world.order.asked).toHaveLength(asked)
  })

  it('a head the broker dead-lettered as poison lets the next one go when it is archived', async () => {
    const world = orderedWorld({ inline: false })
    await fanOut(world.fanOutCtx, message(storeEvent('store-1', 1)))
    await fanOut(world.fanOutCtx, message(storeEvent('store-1', 2)))
    const head = world.queue.published.find((task) => task.subscriptionId === 'sub_ordered')!
    const archived: unknown[] = []
    const archive = { archive: async (record: unknown) => void archived.push(record), park: async () => {} }
    const poison = message(head, { 'x-death': [{ reason: 'delivery_limit', queue: 'ns.deliveries', count: 10 }] })
    expect(await archiveDeadLetter({ archive, metrics: world.metrics, waitOutRedisOutage: world.ctx.waitOutRedisOutage, order: world.ctx.order! }, poison)).toBe('ack')
    expect(archived).toHaveLength(1)
    expect(world.queue.published.filter((task) => task.subscriptionId === 'sub_ordered').map(receipt)).toEqual(['rcpt-store-1-1', 'rcpt-store-1-2'])
    expect(world.order.queues.get('sub_ordered/store-1')!.ids).toHaveLength(1)
  })

  it('a skipped head (its subscription was deleted) releases its store too', async () => {
    const world = orderedWorld({ inline: false })
    await fanOut(world.fanOutCtx, message(storeEvent('store-1', 1)))
    await fanOut(world.fanOutCtx, message(storeEvent('store-1', 2)))
    world.subscriptions.byId.delete('sub_ordered')
    const head = world.queue.published.find((task) => task.subscriptionId === 'sub_ordered')!
    expect(await queued(world.ctx, head)).toBe('skipped')
    const next = world.queue.published.filter((task) => task.subscriptionId === 'sub_ordered').at(-1)!
    expect(receipt(next)).toBe('rcpt-store-1-2')
    expect(await queued(world.ctx, next)).toBe('skipped')
    expect(world.order.queues.get('sub_ordered/store-1')!.ids).toEqual([])
  })
})

describe('flow rate', () => {
  it('defers a delivery over the limit to a tier without spending an attempt, and counts it held', async () => {
    const world = orderedWorld({ inline: false })
    const budgets = new FakeBudgets()
    world.ctx.pace = new FlowPace(budgets, { defaultRate: { count: 2, windowMs: 10_000 } })
    const tasks = [1, 2, 3].map((n) => taskFor('sub_plain', n))
    expect(await queued(world.ctx, tasks[0]!)).toBe('delivered')
    expect(await queued(world.ctx, tasks[1]!)).toBe('delivered')
    expect(await queued(world.ctx, tasks[2]!)).toBe('deferred')
    expect(world.webhooks.sent).toHaveLength(2)
    const [wait] = world.queue.scheduled
    expect(wait).toMatchObject({ reason: 'flow-rate' })
    expect(wait!.task.attempt).toBe(1)
    expect(wait!.delayMs).toBeGreaterThan(9_000)
    expect(world.attempts.outcomes()).toEqual(['delivered', 'delivered'])
    expect(world.changes.failures.size).toBe(0)
    expect(await world.held('flow-rate')).toBe(1)
    // Another subscription has a budget of its own; an operator's `unlimited` lifts it.
    expect(await queued(world.ctx, taskFor('sub_ordered', 9, { orderKey: undefined }))).toBe('delivered')
    world.subscriptions.byId.get('sub_plain')!.record.flowRateLimit = 'unlimited'
    expect(await queued(world.ctx, tasks[2]!)).toBe('delivered')
  })

  it('a 429 with Retry-After pauses the subscription (shared through the store, capped); the others keep going', async () => {
    const world = orderedWorld({ inline: false, answers: [status(429, 3_000)] })
    const budgets = new FakeBudgets()
    world.ctx.pace = new FlowPace(budgets, { defaultRate: { count: 100, windowMs: 10_000 } })
    const before = Date.now()
    expect(await queued(world.ctx, taskFor('sub_plain', 1))).toBe('retry')
    expect(budgets.pauses.get('sub_plain')).toBeGreaterThanOrEqual(before + 3_000)
    expect(await queued(world.ctx, taskFor('sub_plain', 2))).toBe('deferred')
    expect(world.queue.scheduled.at(-1)).toMatchObject({ reason: 'paused' })
    expect(world.queue.scheduled.at(-1)!.delayMs).toBeGreaterThan(2_500)
    expect(await queued(world.ctx, taskFor('sub_ordered', 3, { orderKey: undefined }))).toBe('delivered')

    // Another replica learns of the pause from the store at its next reservation.
    const other = new FlowPace(budgets, { defaultRate: { count: 100, windowMs: 10_000 } })
    const pace = await other.take(TENANT, 'sub_plain')
    expect(pace).toMatchObject({ go: false, reason: 'paused' })
  })

  it('two replicas sharing one budget never send more than the limit in any window, and keep sending at the limit', async () => {
    let now = 1_000_000
    const budgets = new FakeBudgets()
    const rate = { count: 40, windowMs: 10_000 }
    const replicas = [new FlowPace(budgets, { defaultRate: rate, now: () => now }), new FlowPace(budgets, { defaultRate: rate, now: () => now })]
    const sends: number[] = []
    // Both replicas offer a delivery every 20 ms each for 60 s (100 a second against a limit of 4 a second).
    for (let step = 0; step < 3_000; step++) {
      now += 20
      for (const replica of replicas) {
        const pace = await replica.take(TENANT, 'sub_busy')
        if (pace.go) sends.push(now)
      }
    }
    let most = 0
    for (let index = 0, start = 0; index < sends.length; index++) {
      while (sends[index]! - sends[start]! >= rate.windowMs) start++
      most = Math.max(most, index - start + 1)
    }
    expect(most).toBeLessThanOrEqual(40)
    // Not starved either: at least 5 windows' worth in 60 s (the window counts for 11 s here).
    expect(sends.length).toBeGreaterThanOrEqual(200)
    // Far fewer reservations than sends: most go on a share held locally.
    expect(budgets.calls).toBeLessThan(sends.length)
  })

  it('a quiet subscription, far from its limit, asks Redis once per share, not once per delivery', async () => {
    let now = 1_000_000
    const budgets = new FakeBudgets()
    const clock = new FlowPace(budgets, { defaultRate: { count: 4500, windowMs: 300_000 }, now: () => now })
    // One delivery a second for ten minutes.
    for (let second = 0; second < 600; second++, now += 1_000) expect(await clock.take(TENANT, 'sub_quiet')).toEqual({ go: true })
    expect(budgets.calls).toBeLessThanOrEqual(12)
  })

  it('FLOW_RATE_LIMIT: 4500/5m by default, <count>/<duration> in ms s m h, unlimited, and a clear error otherwise', () => {
    expect(parseFlowRateLimit(undefined)).toEqual({ count: 4500, windowMs: 300_000 })
    expect(parseFlowRateLimit('40/10s')).toEqual({ count: 40, windowMs: 10_000 })
    expect(parseFlowRateLimit('5/250ms')).toEqual({ count: 5, windowMs: 250 })
    expect(parseFlowRateLimit('45000/1h')).toEqual({ count: 45_000, windowMs: 3_600_000 })
    expect(parseFlowRateLimit('unlimited')).toBeNull()
    for (const bad of ['4500', '4500/5', '0/5m', '4500/5d', '-1/5m', 'lots']) {
      expect(() => parseFlowRateLimit(bad)).toThrow(/FLOW_RATE_LIMIT ".*" must be <count>\/<duration> with a unit ms, s, m or h/)
    }
  })
})

const receipt = (task: DeliveryTask) => (task.payload as { receiptId?: string }).receiptId

function taskFor(subscriptionId: string, n: number, overrides: Partial<DeliveryTask> = {}): DeliveryTask {
  const happened = storeEvent('store-9', n)
  const task: DeliveryTask = {
    kind: 'deliver', deliveryId: `msg_${subscriptionId}_${n}`, subscriptionId, tenantId: TENANT, eventId: happened.id, eventType: happened.type,
    attempt: 1, createdAt: Date.now(), origin: 'event', payload: toNotification(happened),
    ...overrides,
  }
  if (task.orderKey === undefined) delete task.orderKey
  return task
}
