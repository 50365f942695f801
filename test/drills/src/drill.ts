import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll } from 'vitest'
import {
  DirectPublisher, PowerAutomate, Stack, printLogsOnFailure,
  type AcceptedReceipt, type Flow, type FlowFilters, type ReceiptSpec, type StackOptions, type Tenant,
} from '@arrivals/e2e/harness'
import { RabbitNode } from './rabbit-node.js'
import { RedisServer } from './redis-server.js'

export interface Drill {
  rabbit: RabbitNode
  redis: RedisServer
  stack: Stack
  platform: PowerAutomate
  publisher: DirectPublisher
  /** Flows saved through `saveFlow`, with their tenant, for the ledger. */
  flows: { flow: Flow; tenantId: string }[]
  saveFlow(tenant: Tenant, name: string, filters?: FlowFilters, answer?: Flow['answer']): Promise<Flow>
}

export type DrillOptions = Omit<StackOptions, 'amqpUrl' | 'redisUrl' | 'namespace'>

/**
 * One drill file's world: its own RabbitMQ node and Redis server (so stopping them disturbs nobody),
 * the three services as processes on them, a Power Automate stand-in and a direct publisher.
 * Registers the hooks that start it, tear it down, and print the logs of a failed test.
 */
export function useDrill(options: DrillOptions = {}): Drill {
  const drill = { flows: [] } as unknown as Drill
  beforeAll(async () => {
    drill.rabbit = await RabbitNode.create()
    drill.redis = await RedisServer.create()
    await Promise.all([drill.rabbit.start(), drill.redis.start()])
    drill.stack = await Stack.start({
      ...options,
      amqpUrl: drill.rabbit.amqpUrl,
      redisUrl: drill.redis.url,
      namespace: `drill-${randomBytes(4).toString('hex')}`,
    })
    drill.platform = await PowerAutomate.start(drill.stack.subscriptions.url)
    drill.publisher = new DirectPublisher(drill.rabbit.amqpUrl, drill.stack.namespace)
    drill.saveFlow = async (tenant, name, filters = {}, answer) => {
      const flow = await drill.platform.saveFlow({ apiKey: tenant.apiKey, name, filters, ...(answer ? { answer } : {}) })
      drill.flows.push({ flow, tenantId: tenant.id })
      return flow
    }
  })
  afterAll(async () => {
    await drill.publisher?.close()
    await drill.platform?.close()
    await drill.stack?.stop()
    await Promise.all([drill.rabbit?.destroy(), drill.redis?.destroy()])
  })
  printLogsOnFailure(() => drill.stack?.logs())
  return drill
}

/** The n-th receipt of a stream: stores, SKUs and quantities spread so every filter matches some. */
export function streamReceipt(n: number): ReceiptSpec {
  return {
    storeId: `store-${n % 5}`,
    items: [
      { sku: `SKU-${n % 7}`, name: `Product ${n % 7}`, quantity: (n % 40) + 1, unit: 'case' },
      ...(n % 3 === 0 ? [{ sku: 'SKU-X', name: 'Extra', quantity: 2, unit: 'each' }] : []),
    ],
  }
}

export interface StreamResult {
  accepted: AcceptedReceipt[]
  /** Status (or error name) → count, for everything that was not accepted. */
  refused: Map<string, number>
}

/**
 * Sends `total` receipts with at most `concurrency` in flight. `send` resolves with the accepted
 * receipt, or with a refusal label (a status code, an error) that the drill may then check.
 */
export async function stream(total: number, concurrency: number, send: (n: number) => Promise<AcceptedReceipt | string>): Promise<StreamResult> {
  const result: StreamResult = { accepted: [], refused: new Map() }
  let next = 0
  const worker = async () => {
    while (next < total) {
      const n = next++
      const outcome = await send(n).catch((error: Error) => error.name || 'Error')
      if (typeof outcome === 'string') result.refused.set(outcome, (result.refused.get(outcome) ?? 0) + 1)
      else result.accepted.push(outcome)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return result
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
