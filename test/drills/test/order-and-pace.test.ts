import { describe, expect, it } from 'vitest'
import type { AcceptedReceipt, Flow, Notification, Tenant } from '@arrivals/e2e/harness'
import { sleep, stream, useDrill } from '../src/drill.js'

// Ordered delivery and the flow rate with two dispatcher replicas on a broker and a Redis of the
// drill's own (DESIGN, "Ordered delivery" and "Flow rate"; docs/decisions/0006, 0007).

const STORES = 6
const ORDERED_EVENTS = 240
const PACED_EVENTS = 100

const succeeded = (notification: Notification) => typeof notification.status === 'number' && notification.status < 300

/** The most requests in any window of `windowMs`. */
function mostInAnyWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((x, y) => x - y)
  let most = 0
  for (let end = 0, start = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= windowMs) start++
    most = Math.max(most, end - start + 1)
  }
  return most
}

async function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

describe('drill: ordered delivery and the flow rate, two dispatchers', () => {
  const drill = useDrill({
    dispatchers: 2,
    // Eleven attempts: a receiver failing 30% at random gives up on one event in a million.
    retrySchedule: '100ms,200ms,300ms,500ms,500ms,500ms,1s,1s,1s,1s',
    env: { dispatcher: { FLOW_RATE_LIMIT: '40/10s' } },
  })

  async function overrideFlowRate(tenant: Tenant, flow: Flow, flowRateLimit: string): Promise<void> {
    const response = await fetch(`${drill.stack.subscriptions.url}/v1/subscriptions/${flow.subscriptionId}/flow-rate-limit`, {
      method: 'PUT', headers: { 'x-api-key': tenant.apiKey, 'content-type': 'application/json' }, body: JSON.stringify({ flowRateLimit }),
    })
    expect(response.status, await response.text()).toBe(200)
  }

  it('per store, the first successful deliveries come in publish order, every one delivered, through a receiver failing 30% and a kill -9', async () => {
    const { stack, publisher } = drill
    const tenant = stack.tenants.a
    const ordered = await drill.saveFlow(tenant, 'A: in order per store', { ordered: true }, () => (Math.random() < 0.3 ? 500 : 202))
    // Not a Power Automate flow in this test: the flow rate is the next test's subject.
    await overrideFlowRate(tenant, ordered, 'unlimited')

    const [victim, survivor] = stack.dispatchers
    let killedAt = -1
    const killer = (async () => {
      await until(() => ordered.notifications.filter(succeeded).length >= ORDERED_EVENTS / 3, 'a third of the deliveries', 60_000)
      killedAt = ordered.notifications.length
      expect((await victim!.kill('SIGKILL')).signal).toBe('SIGKILL')
    })()

    // A store system sends its receipts one after another; the stores are interleaved.
    const published = new Map<string, string[]>()
    const accepted: AcceptedReceipt[] = []
    for (let n = 0; n < ORDERED_EVENTS; n++) {
      const storeId = `store-${n % STORES}`
      const receipt = await publisher.publish(tenant.id, { storeId, items: [{ sku: 'SKU-1', name: 'Oat milk', quantity: n + 1, unit: 'case' }] })
      accepted.push(receipt)
      published.set(storeId, [...(published.get(storeId) ?? []), receipt.eventId])
      await sleep(5)
    }
    await killer

    const firstSuccess = () => {
      const first = new Map<string, Notification>()
      for (const notification of ordered.notifications) {
        const eventId = String(notification.payload.eventId)
        if (succeeded(notification) && !first.has(eventId)) first.set(eventId, notification)
      }
      return first
    }
    await until(() => firstSuccess().size === ORDERED_EVENTS, `all ${ORDERED_EVENTS} delivered`, 90_000)
    const first = firstSuccess()

    for (const [storeId, eventIds] of published) {
      const arrived = [...first.values()].filter((n) => n.payload.storeId === storeId).map((n) => String(n.payload.eventId))
      expect(arrived, `store ${storeId}`).toEqual(eventIds)
    }
    // Every failed attempt held back only its own store: other stores were delivered meanwhile.
    const failures = ordered.notifications.filter((n) => !succeeded(n))
    const overtaken = failures.filter((failure) => {
      const recovered = first.get(String(failure.payload.eventId))!.receivedAt
      return [...first.values()].some((n) => n.payload.storeId !== failure.payload.storeId && n.receivedAt > failure.receivedAt && n.receivedAt < recovered)
    })
    console.info(`ordered drill: ${ordered.notifications.length} requests, ${failures.length} failed, ${overtaken.length} of those overtaken by other stores; killed at ${killedAt}`)
    expect(failures.length).toBeGreaterThan(ORDERED_EVENTS / 10)
    expect(overtaken.length).toBeGreaterThan(failures.length / 2)
    expect(drill.platform.invalidNotifications()).toEqual([])
    expect(victim!.running).toBe(false)
    expect(survivor!.running).toBe(true)
    // Later tests need two replicas again.
    await stack.addDispatcher()
  })

  it('FLOW_RATE_LIMIT=40/10s: no subscription gets more than 40 requests in any 10 s across both replicas, and every one arrives later', async () => {
    const { stack, publisher } = drill
    const tenant = stack.tenants.b
    const paced = await drill.saveFlow(tenant, 'B: paced', { storeId: 'store-paced' })
    const started = Date.now()
    const result = await stream(PACED_EVENTS, 8, (n) => publisher.publish(tenant.id, { storeId: 'store-paced', items: [{ sku: 'SKU-1', name: 'Oat milk', quantity: n + 1, unit: 'case' }] }))
    expect(result.refused).toEqual(new Map())
    await until(() => new Set(paced.notifications.filter(succeeded).map((n) => n.payload.eventId)).size === PACED_EVENTS, `all ${PACED_EVENTS} delivered`, 55_000)
    const most = mostInAnyWindow(paced.notifications.map((n) => n.receivedAt), 10_000)
    console.info(`flow-rate drill: ${paced.notifications.length} requests in ${Date.now() - started} ms, at most ${most} in any 10 s`)
    expect(most).toBeLessThanOrEqual(40)
    // Held, not dropped or failed: each went once, and it took the windows it needed.
    expect(paced.notifications.length).toBe(PACED_EVENTS)
    expect(Date.now() - started).toBeGreaterThan(20_000)
  })

  it('a 429 with Retry-After: 3 stops that subscription for 3 s on both replicas; another subscription of the same host keeps going', async () => {
    const { stack, publisher } = drill
    const tenant = stack.tenants.b
    let requests = 0
    let pausedAt = 0
    const throttled = await drill.saveFlow(tenant, 'B: answers 429 once', { storeId: 'store-429' }, (notification) => {
      requests += 1
      if (requests !== 20) return 202
      pausedAt = notification.receivedAt
      return { status: 429, retryAfter: '3' }
    })
    const neighbour = await drill.saveFlow(tenant, 'B: same host', { storeId: 'store-429', minQuantity: 1 })
    await overrideFlowRate(tenant, throttled, 'unlimited')
    await overrideFlowRate(tenant, neighbour, 'unlimited')

    const accepted: AcceptedReceipt[] = []
    for (let n = 0; n < 120; n++) {
      accepted.push(await publisher.publish(tenant.id, { storeId: 'store-429', items: [{ sku: 'SKU-1', name: 'Oat milk', quantity: n + 1, unit: 'case' }] }))
      await sleep(50)
    }
    const delivered = (flow: Flow) => new Set(flow.notifications.filter(succeeded).map((n) => n.payload.eventId)).size
    await until(() => delivered(throttled) === accepted.length && delivered(neighbour) === accepted.length, 'every event at both flows', 30_000)

    expect(pausedAt).toBeGreaterThan(0)
    // Requests already on their way when the 429 left may still arrive; then none until Retry-After.
    const during = (flow: Flow) => flow.notifications.filter((n) => n.receivedAt > pausedAt + 250 && n.receivedAt < pausedAt + 2_900).length
    const resumed = throttled.notifications.filter((n) => n.receivedAt >= pausedAt + 2_900)
    console.info(`429 drill: throttled flow got ${during(throttled)} requests during the pause, the neighbour ${during(neighbour)}; resumed ${Math.min(...resumed.map((n) => n.receivedAt)) - pausedAt} ms after the 429`)
    expect(during(throttled)).toBe(0)
    expect(during(neighbour)).toBeGreaterThan(20)
    expect(Math.min(...resumed.map((n) => n.receivedAt)) - pausedAt).toBeLessThan(4_000)
    expect(stack.dispatchers.filter((dispatcher) => dispatcher.running)).toHaveLength(2)
  })
})
