import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, waitFor, type TestNamespace } from '@arrivals/test-kit'
import { deliveryIdFor } from '@arrivals/contracts'
import {
  PowerAutomate, Stack, describeAccount, postAdjustment, postReceipt, printLogsOnFailure, settle,
  type AcceptedReceipt, type AdjustmentSpec, type Flow, type ReceiptSpec,
} from '../src/index.js'

// The product end to end: inventory, subscriptions and a dispatcher as separate processes over the
// real RabbitMQ and Redis, driven by a Power Automate stand-in that knows only the served connector.
let ns: TestNamespace
let stack: Stack
let platform: PowerAutomate

beforeAll(async () => {
  ns = createNamespace('e2e')
  stack = await Stack.start({ amqpUrl: ns.amqpUrl, redisUrl: ns.redisUrl, namespace: ns.namespace })
  platform = await PowerAutomate.start(stack.subscriptions.url)
})

afterAll(async () => {
  await platform?.close()
  await stack?.stop()
  await ns?.cleanup({ retryDelaysMs: [200, 500, 1000] })
})

printLogsOnFailure(() => stack?.logs())

async function accept(tenant: { id: string; apiKey: string }, spec: ReceiptSpec): Promise<AcceptedReceipt> {
  const result = await postReceipt(stack.inventory.url, tenant, spec)
  expect(result.status, result.body).toBe(202)
  return result.accepted!
}

async function adjust(tenant: { id: string; apiKey: string }, spec: AdjustmentSpec): Promise<AcceptedReceipt> {
  const result = await postAdjustment(stack.inventory.url, tenant, spec)
  expect(result.status, result.body).toBe(202)
  return result.accepted!
}

function get(path: string, apiKey: string): Promise<Response> {
  return fetch(`${stack.subscriptions.url}${path}`, { headers: { 'x-api-key': apiKey } })
}

describe('a flow with the "When goods are received at a store" trigger', () => {
  it('is saved, notified, saved again, and deleted exactly as Power Automate does it', async () => {
    const { a, b } = stack.tenants
    const flow = await platform.saveFlow({ apiKey: a.apiKey, name: 'Store 1 arrivals', filters: { storeId: 'store-1' } })
    expect(flow.location).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//)
    expect(flow.secret).toMatch(/^whsec_/)

    // The platform retries a subscribe it never saw answered: the same subscription comes back.
    const firstLocation = flow.location
    await flow.subscribe()
    expect(flow.location).toBe(firstLocation)

    // The operator can tell which flow owns the subscription, and never sees its callback's signature.
    const listed = await get(`/v1/subscriptions/${flow.subscriptionId}`, a.apiKey)
    const listedText = await listed.text()
    expect(listed.status, listedText).toBe(200)
    expect(listedText).toContain(flow.workflowId)
    expect(listedText).not.toContain(flow.sig)
    expect(listedText).not.toContain(flow.secret)
    // Another tenant cannot see it.
    expect((await get(`/v1/subscriptions/${flow.subscriptionId}`, b.apiKey)).status).toBe(404)

    const receipt = await accept(a, { storeId: 'store-1', items: [{ sku: 'OAT-1L', name: 'Oat milk 1 l', quantity: 24, unit: 'case' }] })
    const notification = await waitFor(() => flow.notifications[0], { timeoutMs: 20_000, what: 'the first notification' })
    expect(notification.schemaErrors).toEqual([])
    expect(notification.signatureError).toBeUndefined()
    expect(notification.status).toBe(202)
    expect(notification.webhookId).toBe(deliveryIdFor(receipt.eventId, flow.subscriptionId))
    expect(notification.payload).toMatchObject({
      eventId: receipt.eventId,
      eventType: 'inventory.goods-received.v1',
      storeId: 'store-1',
      totalQuantity: 24,
      items: [{ sku: 'OAT-1L', name: 'Oat milk 1 l', quantity: 24, unit: 'case' }],
    })

    // The maker edits the trigger to another store: DELETE the old subscription, POST the new one.
    const oldSubscription = flow.subscriptionId
    await flow.resave({ storeId: 'store-2' })
    expect(flow.subscriptionId).not.toBe(oldSubscription)
    expect((await get(`/v1/subscriptions/${oldSubscription}`, a.apiKey)).status).toBe(404)
    const wrongStore = await accept(a, { storeId: 'store-1' })
    const rightStore = await accept(a, { storeId: 'store-2' })
    const afterEdit = await settle([{ flow, tenantId: a.id }], [wrongStore, rightStore], () => flow.notifications.slice(1))
    expect(afterEdit.missing, describeAccount(afterEdit)).toEqual([])
    expect(afterEdit.unexpected, describeAccount(afterEdit)).toEqual([])
    expect(afterEdit.wrongIds).toEqual([])

    // Another tenant's connection cannot delete the flow's subscription.
    const foreign = await fetch(flow.location, { method: 'DELETE', headers: { 'x-api-key': b.apiKey } })
    expect(foreign.status).toBe(404)

    // The maker deletes the flow: DELETE the Location; a second DELETE is not an error.
    expect(await flow.delete()).toBe(204)
    expect([204, 404]).toContain(await flow.delete())
    const watcher = await platform.saveFlow({ apiKey: a.apiKey, name: 'Watcher', filters: { storeId: 'store-2' } })
    const afterDelete = await accept(a, { storeId: 'store-2' })
    const account = await settle([{ flow: watcher, tenantId: a.id }], [afterDelete], () => watcher.notifications, { quietMs: 1_500 })
    expect(account.missing).toEqual([])
    expect(flow.notifications.map((n) => n.payload.eventId)).not.toContain(afterDelete.eventId)
    expect(platform.strays).toEqual([])
    expect(platform.invalidNotifications()).toEqual([])
    await watcher.delete()
  })

  it('reaches every matching flow of its tenant and no other', async () => {
    const { a, b } = stack.tenants
    const flows: { flow: Flow; tenantId: string }[] = []
    const save = async (tenant: typeof a, name: string, filters: Record<string, string | number>) => {
      flows.push({ flow: await platform.saveFlow({ apiKey: tenant.apiKey, name, filters }), tenantId: tenant.id })
    }
    await save(a, 'A: everything', {})
    await save(a, 'A: store north', { storeId: 'north' })
    await save(a, 'A: sku COFFEE', { sku: 'COFFEE' })
    await save(a, 'A: at least 50', { minQuantity: 50 })
    await save(a, 'A: north, COFFEE, at least 10', { storeId: 'north', sku: 'COFFEE', minQuantity: 10 })
    await save(b, 'B: everything', {})
    await save(b, 'B: store north', { storeId: 'north' })

    const coffee = (quantity: number) => ({ sku: 'COFFEE', name: 'Coffee beans 1 kg', quantity, unit: 'bag' })
    const tea = (quantity: number) => ({ sku: 'TEA', name: 'Green tea', quantity, unit: 'box' })
    const receipts = await Promise.all([
      accept(a, { storeId: 'north', items: [coffee(5)] }),
      accept(a, { storeId: 'north', items: [coffee(8), tea(4)] }),
      accept(a, { storeId: 'north', items: [tea(60)] }),
      accept(a, { storeId: 'south', items: [coffee(50)] }),
      accept(a, { storeId: 'south', items: [tea(1)] }),
      accept(a, { storeId: 'north-2', items: [coffee(49)] }),
      accept(b, { storeId: 'north', items: [coffee(100)] }),
      accept(b, { storeId: 'south', items: [tea(2)] }),
    ])
    const account = await settle(flows, receipts, () => platform.notifications.filter((n) => flows.some((f) => f.flow === n.flow)))
    expect(account.missing, describeAccount(account)).toEqual([])
    expect(account.unexpected, describeAccount(account)).toEqual([])
    expect(account.wrongIds, describeAccount(account)).toEqual([])
    // The filters were not vacuous: each flow got some, and not all, of its tenant's receipts.
    expect(account.expected).toBe(6 + 3 + 4 + 2 + 1 + 2 + 1)
    expect(platform.invalidNotifications()).toEqual([])
    for (const { flow } of flows) await flow.delete()
  })
})

describe('a flow with the "When stock is adjusted at a store" trigger', () => {
  const STOCK_ADJUSTED_TRIGGER = 'When stock is adjusted at a store'

  it('is offered by the served connector next to goods received, with the reason as a dropdown', () => {
    expect(platform.connector.triggers.map((trigger) => trigger.summary)).toEqual(['When goods are received at a store', STOCK_ADJUSTED_TRIGGER])
    const trigger = platform.connector.trigger(STOCK_ADJUSTED_TRIGGER)
    expect(trigger.filterProperties).toEqual(['storeId', 'reason', 'sku', 'ordered'])
    expect(trigger.filterChoices.reason).toEqual(['damaged', 'expired', 'stock-count', 'theft', 'other'])
  })

  it('offers "Deliver in order per store" as an advanced option; a flow saved with it is ordered, saved again without it is not', async () => {
    const { a } = stack.tenants
    const flow = await platform.saveFlow({ apiKey: a.apiKey, trigger: STOCK_ADJUSTED_TRIGGER, name: 'A adjusted: in order', filters: { storeId: 'ordered-store', ordered: true } })
    const shown = async () => (await fetch(`${stack.subscriptions.url}/v1/subscriptions/${flow.subscriptionId}`, { headers: { 'x-api-key': a.apiKey } })).json() as Promise<{ ordered: boolean }>
    expect((await shown()).ordered).toBe(true)
    await flow.resave({ storeId: 'ordered-store' })
    expect((await shown()).ordered).toBe(false)
    expect(await flow.unsubscribe()).toBe(204)
  })

  it('receives the adjustments whose reason, store and SKU match, never a receipt; goods-received flows never get an adjustment', async () => {
    const { a, b } = stack.tenants
    await expect(platform.saveFlow({ apiKey: a.apiKey, trigger: STOCK_ADJUSTED_TRIGGER, filters: { reason: 'lost' } })).rejects.toThrow(/dropdown/)
    const flows: { flow: Flow; tenantId: string }[] = []
    const save = async (tenant: typeof a, trigger: string, name: string, filters: Record<string, string | number>) => {
      flows.push({ flow: await platform.saveFlow({ apiKey: tenant.apiKey, trigger, name, filters }), tenantId: tenant.id })
    }
    await save(a, STOCK_ADJUSTED_TRIGGER, 'A adjusted: everything', {})
    await save(a, STOCK_ADJUSTED_TRIGGER, 'A adjusted: expired', { reason: 'expired' })
    await save(a, STOCK_ADJUSTED_TRIGGER, 'A adjusted: store west', { storeId: 'west' })
    await save(a, STOCK_ADJUSTED_TRIGGER, 'A adjusted: sku MILK', { sku: 'MILK' })
    await save(a, STOCK_ADJUSTED_TRIGGER, 'A adjusted: west, damaged, MILK', { storeId: 'west', reason: 'damaged', sku: 'MILK' })
    await save(a, 'When goods are received at a store', 'A received: everything', {})
    await save(a, 'When goods are received at a store', 'A received: store west', { storeId: 'west' })
    await save(b, STOCK_ADJUSTED_TRIGGER, 'B adjusted: everything', {})

    const milk = (quantityDelta: number) => ({ sku: 'MILK', name: 'Whole milk 1 l', quantityDelta, unit: 'carton' })
    const tea = (quantityDelta: number) => ({ sku: 'TEA', quantityDelta })
    const events = await Promise.all([
      adjust(a, { storeId: 'west', reason: 'damaged', items: [milk(-6), tea(-1)], note: 'Forklift' }),
      adjust(a, { storeId: 'west', reason: 'expired', items: [tea(-3)] }),
      adjust(a, { storeId: 'east', reason: 'expired', items: [milk(-2)] }),
      adjust(b, { storeId: 'west', reason: 'theft', items: [milk(-1)] }),
      accept(a, { storeId: 'west', items: [{ sku: 'MILK', name: 'Whole milk 1 l', quantity: 24, unit: 'carton' }] }),
      accept(a, { storeId: 'east', items: [{ sku: 'TEA', name: 'Green tea', quantity: 5, unit: 'box' }] }),
    ])
    const account = await settle(flows, events, () => platform.notifications.filter((n) => flows.some((f) => f.flow === n.flow)))
    expect(account.missing, describeAccount(account)).toEqual([])
    expect(account.unexpected, describeAccount(account)).toEqual([])
    expect(account.wrongIds, describeAccount(account)).toEqual([])
    // Everything 3, expired 2, west 2, MILK 2, west+damaged+MILK 1; receipts 2 and 1; B 1.
    expect(account.expected).toBe(3 + 2 + 2 + 2 + 1 + 2 + 1 + 1)
    // Each notification passed its own trigger's x-ms-notification-content, and its signature.
    expect(platform.invalidNotifications()).toEqual([])

    const exact = flows[4]!.flow.notifications[0]!
    expect(exact.payload).toEqual({
      eventId: events[0]!.eventId,
      eventType: 'inventory.stock-adjusted.v1',
      occurredAt: expect.any(String),
      adjustmentId: expect.stringMatching(/^adj_/),
      storeId: 'west',
      storeName: 'west',
      reason: 'damaged',
      note: 'Forklift',
      adjustedAt: expect.any(String),
      items: [{ sku: 'MILK', name: 'Whole milk 1 l', quantityDelta: -6, unit: 'carton' }, { sku: 'TEA', name: '', quantityDelta: -1, unit: '' }],
      netQuantityDelta: -7,
    })
    for (const { flow } of flows) await flow.delete()
  })
})

describe('a Logic Apps workflow with the built-in HTTP Webhook trigger', () => {
  it('subscribes with listCallbackUrl() and unsubscribes by DELETE on the trigger with the same callback and filters', async () => {
    const { a, b } = stack.tenants
    // The workflow's subscribe is the same POST on the trigger; its callback is a signed URL too.
    const workflow = await platform.saveFlow({ apiKey: a.apiKey, name: 'Logic app: store-la', filters: { storeId: 'store-la' } })
    const before = await accept(a, { storeId: 'store-la' })
    const delivered = await settle([{ flow: workflow, tenantId: a.id }], [before], () => workflow.notifications)
    expect(delivered.missing, describeAccount(delivered)).toEqual([])

    // The workflow's "unsubscribe" request: it has its callback and filters, not the subscription id.
    const unsubscribe = (apiKey: string) => fetch(`${stack.subscriptions.url}/v1/triggers/goods-received`, {
      method: 'DELETE',
      headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ callbackUrl: workflow.callbackUrl, storeId: 'store-la' }),
    })
    expect((await unsubscribe(b.apiKey)).status).toBe(404)
    expect((await unsubscribe(a.apiKey)).status).toBe(204)
    expect((await get(`/v1/subscriptions/${workflow.subscriptionId}`, a.apiKey)).status).toBe(404)
    workflow.live = false

    // Nothing more reaches it; a workflow still subscribed to the store does get the next receipt.
    const watcher = await platform.saveFlow({ apiKey: a.apiKey, name: 'Logic app watcher', filters: { storeId: 'store-la' } })
    const after = await accept(a, { storeId: 'store-la' })
    const account = await settle([{ flow: watcher, tenantId: a.id }], [after], () => watcher.notifications, { quietMs: 1_500 })
    expect(account.missing).toEqual([])
    expect(workflow.notifications.map((n) => n.payload.eventId)).not.toContain(after.eventId)
    expect(platform.strays).toEqual([])
    await watcher.delete()
  })
})
