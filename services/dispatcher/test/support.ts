import { randomBytes } from 'node:crypto'
import {
  createSecretBox, goodsReceivedEvent, redactUrl, sealingContext,
  type AttemptRecord, type GoodsReceivedEvent, type SubscriptionFilters, type SubscriptionRecord,
} from '@arrivals/contracts'
import { createEventPublisher, type EventPublisher } from '@arrivals/messaging'
import { createSubscriptionRegistry } from '@arrivals/subscription-registry'
import { registryKeys } from '@arrivals/subscription-registry/layout'
import { createNamespace, waitFor, type TestNamespace } from '@arrivals/test-kit'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { buildApp, type BuildOptions } from '../src/app.js'
import { parseRetrySchedule, readSettings, type DispatcherSettings } from '../src/settings.js'

export const TEST_SCHEDULE = '100ms,200ms'

/** Settings as the process would read them from its environment, tuned for tests, then overridden. */
export function testSettings(ns: TestNamespace, overrides: Partial<DispatcherSettings> = {}): DispatcherSettings {
  const settings = readSettings({
    AMQP_URL: ns.amqpUrl,
    REDIS_URL: ns.redisUrl,
    NAMESPACE: ns.namespace,
    PORT: '0',
    LOG_LEVEL: 'silent',
    CALLBACK_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    CALLBACK_ALLOW_PRIVATE: 'true',
    RETRY_SCHEDULE: TEST_SCHEDULE,
    DELIVERY_TIMEOUT_MS: '2000',
    EVENTS_PREFETCH: '16',
    DELIVERY_PREFETCH: '32',
    DELIVERY_CONCURRENCY: '32',
    ENDPOINT_CONCURRENCY: '4',
    RETRY_AFTER_MAX_MS: '5000',
    MAX_4XX_ATTEMPTS: '2',
    CIRCUIT_OPEN_MS: '1000',
    DISABLE_AFTER_FAILURES: '1000',
    DRAIN_TIMEOUT_MS: '2000',
  })
  return { ...settings, ...overrides }
}

export interface SeedInput {
  tenantId: string
  url: string
  filters?: SubscriptionFilters
  status?: 'active' | 'disabled'
  id?: string
}

/** One test file's world: a namespace, a Redis client, a publisher, and the dispatchers it started. */
export class World {
  readonly ns = createNamespace('dispatcher')
  readonly redis = new Redis(this.ns.redisUrl)
  readonly keys = registryKeys(this.ns.namespace)
  readonly registry = createSubscriptionRegistry({ redis: this.redis, namespace: this.ns.namespace })
  /** The tenant of each subscription `subscribe` wrote (the history is read by tenant and subscription). */
  private readonly tenants = new Map<string, string>()
  readonly key = randomBytes(32)
  readonly box = createSecretBox(this.key)
  readonly apps: FastifyInstance[] = []
  private publisher: EventPublisher | undefined

  settings(overrides: Partial<DispatcherSettings> = {}): DispatcherSettings {
    return testSettings(this.ns, { encryptionKey: this.key, ...overrides })
  }

  async start(overrides: Partial<DispatcherSettings> = {}, options: BuildOptions = {}): Promise<FastifyInstance> {
    const app = await buildApp(this.settings(overrides), options)
    this.apps.push(app)
    await app.dispatcher.whenConsuming()
    return app
  }

  /** Writes a subscription exactly as the subscriptions service does (pinned shape, sealed secrets). */
  async subscribe(input: SeedInput): Promise<{ id: string; secret: string; record: SubscriptionRecord }> {
    const id = input.id ?? `sub_${randomBytes(16).toString('base64url').slice(0, 22)}`
    const secret = `whsec_${randomBytes(24).toString('base64')}`
    const now = new Date().toISOString()
    const filters = input.filters ?? {}
    const fingerprint = this.box.fingerprint(JSON.stringify({ url: input.url, filters }))
    const record: SubscriptionRecord = {
      id,
      tenantId: input.tenantId,
      eventType: 'inventory.goods-received.v1',
      callbackSealed: this.box.seal(input.url, sealingContext.callback(input.tenantId, id)),
      callbackRedacted: redactUrl(input.url),
      fingerprint,
      secretSealed: this.box.seal(secret, sealingContext.secret(input.tenantId, id)),
      filters,
      status: input.status ?? 'active',
      flow: { platform: 'api' },
      createdAt: now,
      updatedAt: now,
    }
    // Through the registry's bulk write: the record, its fingerprint and its index entry, then the tenant's signal.
    await this.registry.subscriptions.importAll([record])
    this.tenants.set(id, input.tenantId)
    return { id, secret, record }
  }

  async publish(event: GoodsReceivedEvent, traceparent?: string): Promise<void> {
    this.publisher ??= createEventPublisher({ url: this.ns.amqpUrl, namespace: this.ns.namespace, clientName: 'dispatcher-test-publisher' })
    await this.publisher.publish(event, traceparent ? { traceparent } : {})
  }

  async attempts(subscriptionId: string): Promise<AttemptRecord[]> {
    const tenantId = this.tenants.get(subscriptionId) ?? ''
    return (await this.redis.lrange(this.keys.attempts(tenantId, subscriptionId), 0, -1)).map((json) => JSON.parse(json) as AttemptRecord)
  }

  async close(): Promise<void> {
    const tiers = [...new Set([...parseRetrySchedule(TEST_SCHEDULE), ...this.apps.flatMap((app) => app.dispatcher.retryTiersMs)])]
    await Promise.all(this.apps.map((app) => app.close().catch(() => {})))
    await this.publisher?.close()
    this.redis.disconnect()
    await this.ns.cleanup({ retryDelaysMs: tiers })
  }
}

let receiptCounter = 0

export function receipt(tenantId: string, overrides: { storeId?: string; items?: { sku: string; quantity: number }[]; id?: string } = {}): GoodsReceivedEvent {
  receiptCounter += 1
  const items = (overrides.items ?? [{ sku: 'SKU-1', quantity: 5 }]).map((item) => ({ ...item, name: `Product ${item.sku}`, unit: 'case' }))
  return goodsReceivedEvent({
    tenantId,
    source: 'urn:arrivals:test',
    ...(overrides.id ? { id: overrides.id } : {}),
    data: {
      receiptId: `rcpt-${receiptCounter}-${randomBytes(3).toString('hex')}`,
      storeId: overrides.storeId ?? 'store-1',
      storeName: 'Store One',
      supplier: 'Test Supplies',
      receivedAt: new Date().toISOString(),
      items,
      totalQuantity: items.reduce((sum, item) => sum + item.quantity, 0),
    },
  })
}

export function tenant(): string {
  return `tenant-${randomBytes(4).toString('hex')}`
}

/** Polls until the list has at least `count` items, and returns it. */
export async function atLeast<T>(count: number, list: () => T[] | Promise<T[]>, what: string, timeoutMs = 10_000): Promise<T[]> {
  let last: T[] = []
  await waitFor(async () => {
    last = await list()
    return last.length >= count
  }, { what, timeoutMs })
  return last
}
