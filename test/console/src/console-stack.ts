import { randomBytes } from 'node:crypto'
import { test as base } from '@playwright/test'
import { postReceipt, Stack, type Tenant } from '@arrivals/e2e/harness'
import { createNamespace, startReceiver, waitFor, type Receiver, type TestNamespace } from '@arrivals/test-kit'

/** A flow as the seed subscribed it: what the console may show, and the secrets it must never show. */
export interface SeededFlow {
  name: string
  storeId?: string
  subscriptionId: string
  /** The callback's path (shown) and its `sig` query parameter (never shown). */
  path: string
  sig: string
  signingSecret: string
}

export interface ConsoleWorld {
  stack: Stack
  receiver: Receiver
  /** The subscriptions service, e.g. http://127.0.0.1:41234 (the console is at /console/). */
  url: string
  tenant: Tenant
  /** A tenant with more subscriptions than one page holds. */
  large: Tenant
  flows: { northwind: SeededFlow; contoso: SeededFlow; everyStore: SeededFlow; paused: SeededFlow }
  /** Callback paths that answer 500 (the rest answer 204). */
  failing: Set<string>
  /** Every query string and signing secret the seed made: none may ever reach the page. */
  secrets(): string[]
  api<T>(tenant: Tenant, method: string, path: string): Promise<T>
}

const sealed: string[] = []

async function subscribe(world: Pick<ConsoleWorld, 'url' | 'receiver'>, tenant: Tenant, name: string, storeId?: string): Promise<SeededFlow> {
  const path = `/flows/${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${randomBytes(3).toString('hex')}`
  const sig = `SIG${randomBytes(16).toString('hex')}`
  const response = await fetch(`${world.url}/v1/triggers/goods-received`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': tenant.apiKey,
      'x-ms-workflow-name': name,
      'x-ms-workflow-id': `/workflows/${randomBytes(8).toString('hex')}`,
      'x-ms-trigger-type': 'OpenApiConnectionWebhook',
    },
    body: JSON.stringify({ callbackUrl: `${world.receiver.url}${path}?api-version=2016-06-01&sp=%2Ftriggers&sig=${sig}`, ...(storeId ? { storeId } : {}) }),
  })
  if (response.status !== 201) throw new Error(`subscribe ${name}: ${response.status} ${await response.text()}`)
  const created = await response.json() as { id: string; signingSecret: string }
  sealed.push(sig, created.signingSecret)
  return { name, subscriptionId: created.id, path, sig, signingSecret: created.signingSecret, ...(storeId ? { storeId } : {}) }
}

/**
 * The whole product for the browser: inventory, subscriptions and a dispatcher as real processes
 * in their own namespace, a real receiver, and a tenant whose flows have real history: deliveries,
 * retries, a dead letter from a callback that kept failing, and one disabled subscription.
 */
async function startWorld(ns: TestNamespace, running: { stack?: Stack; receiver?: Receiver }): Promise<ConsoleWorld> {
  const failing = new Set<string>()
  const receiver = running.receiver = await startReceiver((request, response) => {
    const path = request.path.split('?')[0]!
    response.writeHead(failing.has(path) ? 500 : 204).end()
  })
  // Two quick retries: a failing callback is dead-lettered within about a second.
  const stack = running.stack = await Stack.start({ amqpUrl: ns.amqpUrl, redisUrl: ns.redisUrl, namespace: ns.namespace, retrySchedule: '200ms,400ms', logLevel: 'warn' })
  const url = stack.subscriptions.url
  const partial = { url, receiver }
  const tenant = stack.tenants.a
  const large = stack.tenants.b

  async function api<T>(who: Tenant, method: string, path: string): Promise<T> {
    const response = await fetch(`${url}${path}`, { method, headers: { 'x-api-key': who.apiKey } })
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`)
    return (response.status === 204 ? undefined : await response.json()) as T
  }

  const flows = {
    northwind: await subscribe(partial, tenant, 'Northwind arrivals to Teams', 'store-12'),
    contoso: await subscribe(partial, tenant, 'Contoso pallets to Planner', 'store-7'),
    everyStore: await subscribe(partial, tenant, 'Every receipt to SharePoint'),
    paused: await subscribe(partial, tenant, 'Old approvals flow', 'store-3'),
  }
  await api(tenant, 'POST', `/v1/subscriptions/${flows.paused.subscriptionId}/disable`)
  // Over one page (the hash stops being one small listpack past 128 entries, so HSCAN pages).
  for (let start = 0; start < 150; start += 25) {
    await Promise.all(Array.from({ length: 25 }, (_, index) => subscribe(partial, large, `Store ${start + index + 1} arrivals`, `store-${start + index + 1}`)))
  }

  failing.add(flows.northwind.path)
  for (const storeId of ['store-12', 'store-7', 'store-7', 'store-9']) {
    const posted = await postReceipt(stack.inventory.url, tenant, { storeId })
    if (posted.status !== 202) throw new Error(`receipt for ${storeId}: ${posted.status} ${posted.body}`)
  }
  // 4 to every store, 2 to Contoso, 1 + 2 retries to Northwind.
  await receiver.waitForRequests(9, 20_000)
  await waitFor(async () => (await api<{ items: unknown[] }>(tenant, 'GET', `/v1/dead-letters?subscriptionId=${flows.northwind.subscriptionId}`)).items.length === 1,
    { what: 'the Northwind delivery to be dead-lettered', timeoutMs: 20_000 })
  return { stack, receiver, url, tenant, large, flows, failing, secrets: () => [...sealed], api }
}

export const test = base.extend<object, { world: ConsoleWorld }>({
  // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's dependencies from this pattern: none.
  world: [async ({}, use) => {
    const ns = createNamespace('console', {
      amqpUrl: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
      redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    })
    const running: { stack?: Stack; receiver?: Receiver } = {}
    try {
      await use(await startWorld(ns, running))
    } catch (error) {
      if (running.stack) console.error(running.stack.logs())
      throw error
    } finally {
      await running.stack?.stop()
      await running.receiver?.close()
      await ns.cleanup({ retryDelaysMs: [200, 400] })
    }
  }, { scope: 'worker' }],
})

export { expect } from '@playwright/test'
