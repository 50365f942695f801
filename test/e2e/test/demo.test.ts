import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, type TestNamespace } from '@arrivals/test-kit'
import { Stack, printLogsOnFailure, repoRoot } from '../src/index.js'

const run = promisify(execFile)

// `pnpm demo` is what a newcomer runs first: it must work against a running stack.
let ns: TestNamespace
let stack: Stack

beforeAll(async () => {
  ns = createNamespace('e2e-demo')
  stack = await Stack.start({ amqpUrl: ns.amqpUrl, redisUrl: ns.redisUrl, namespace: ns.namespace })
})

afterAll(async () => {
  await stack?.stop()
  await ns?.cleanup({ retryDelaysMs: [200, 500, 1000] })
})

printLogsOnFailure(() => stack?.logs())

describe('pnpm demo', () => {
  it('subscribes with both triggers like Power Automate, records a receipt and an adjustment, prints the verified notifications and cleans up', async () => {
    const { stdout, stderr } = await run(process.execPath, ['scripts/demo.mjs'], {
      cwd: repoRoot,
      timeout: 60_000,
      env: {
        PATH: process.env.PATH ?? '',
        SUBSCRIPTIONS_URL: stack.subscriptions.url,
        INVENTORY_URL: stack.inventory.url,
        ARRIVALS_API_KEY: stack.tenants.a.apiKey,
      },
    })
    expect(stderr).toBe('')
    expect(stdout).toContain('201 Created')
    expect(stdout).toContain('"storeId": "demo-store"')
    expect(stdout).toMatch(/webhook-signature: v1,/)
    expect(stdout).toContain('signature verified')
    expect(stdout).toMatch(/DELETE .*\n\s+204/)
    // Both triggers, each flow with its own event.
    expect(stdout).toContain('Save a flow "When goods are received at a store"')
    expect(stdout).toContain('Save a flow "When stock is adjusted at a store"')
    expect(stdout).toContain('"eventType": "inventory.goods-received.v1"')
    expect(stdout).toContain('"eventType": "inventory.stock-adjusted.v1"')
    expect(stdout).toContain('"netQuantityDelta": -1')
    expect(stdout.match(/signature verified/g)).toHaveLength(2)
    expect(stdout.match(/DELETE .*\n\s+204/g)).toHaveLength(2)
    // Nothing is left behind.
    const left = await fetch(`${stack.subscriptions.url}/v1/subscriptions`, { headers: { 'x-api-key': stack.tenants.a.apiKey } })
    expect(await left.text()).not.toContain('demo-store')
  })
})
