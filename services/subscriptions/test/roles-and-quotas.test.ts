import amqp from 'amqplib'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { brokerTopology, deliveryIdFor, inventoryKeys, type DeadLetterRecord } from '@arrivals/contracts'
import { applyTopology } from '@arrivals/messaging'
import { registryKeys } from '@arrivals/subscription-registry/layout'
import { createNamespace } from '@arrivals/test-kit'
import { as, build, callbackUrl, sameTenant, subscribe, tenant, testSettings } from './support.js'

const ns = createNamespace('subs-roles')
const operator = tenant('contoso')
const maker = sameTenant(operator, 'maker')
const limited = tenant('limited')
const keys = registryKeys(ns.namespace)
let app: FastifyInstance
let redis: Redis
let connection: amqp.ChannelModel

beforeAll(async () => {
  app = await build(testSettings(ns, [operator, maker, limited]))
  redis = new Redis(ns.redisUrl)
  connection = await amqp.connect(ns.amqpUrl)
  const channel = await connection.createChannel()
  await applyTopology(channel, brokerTopology(ns.namespace))
  await channel.close()
})
afterAll(async () => {
  await app?.close()
  redis?.disconnect()
  await connection?.close().catch(() => {})
  await ns.cleanup()
})

describe('roles', () => {
  it('lets a maker\'s key use the connector\'s routes: subscribe, the store list, unsubscribe by callback, DELETE on the Location', async () => {
    const first = callbackUrl()
    const created = await subscribe(app, maker, { callbackUrl: first.url })
    expect(created.statusCode, created.body).toBe(201)
    expect((await app.inject({ method: 'GET', url: '/v1/stores', headers: as(maker) })).statusCode).toBe(200)
    const byCallback = await app.inject({ method: 'POST', url: '/v1/triggers/goods-received/unsubscribe', headers: as(maker), payload: { callbackUrl: first.url } })
    expect(byCallback.statusCode).toBe(204)
    const second = await subscribe(app, maker, { callbackUrl: callbackUrl().url })
    const location = new URL(second.headers.location as string).pathname
    expect((await app.inject({ method: 'DELETE', url: location, headers: as(maker) })).statusCode).toBe(204)
  })

  it('answers GET /v1/me to a maker\'s key and an operator\'s alike: the tenant is not operator business', async () => {
    for (const caller of [maker, operator]) {
      const me = await app.inject({ method: 'GET', url: '/v1/me', headers: as(caller) })
      expect(me.statusCode, me.body).toBe(200)
      expect(me.json()).toEqual({ tenantId: operator.id })
    }
  })

  it('answers a maker\'s key 403 on every operator route, saying what is needed, and changes nothing', async () => {
    const id = (await subscribe(app, operator, { callbackUrl: callbackUrl().url })).json().id as string
    const before = await redis.hget(keys.subscriptions(operator.id), id)
    const routes: [string, string][] = [
      ['GET', '/v1/subscriptions'],
      ['GET', `/v1/subscriptions/${id}`],
      ['GET', `/v1/subscriptions/${id}/attempts`],
      ['POST', `/v1/subscriptions/${id}/test`],
      ['POST', `/v1/subscriptions/${id}/enable`],
      ['POST', `/v1/subscriptions/${id}/disable`],
      ['POST', `/v1/subscriptions/${id}/secret/rotate`],
      ['POST', `/v1/subscriptions/${id}/redeliver?since=2020-01-01T00:00:00Z`],
      ['GET', '/v1/dead-letters'],
      ['POST', '/v1/dead-letters/dl_x/replay'],
      ['DELETE', '/v1/dead-letters/dl_x'],
    ]
    for (const [method, url] of routes) {
      const response = await app.inject({ method: method as 'GET', url, headers: as(maker) })
      expect(response.statusCode, `${method} ${url}`).toBe(403)
      expect(response.json(), `${method} ${url}`).toEqual({
        statusCode: 403,
        error: 'Forbidden',
        code: 'NOT_AN_OPERATOR',
        message: 'this key is a maker\'s key: the operator API needs an operator\'s key (API_KEYS entry tenantId:key:operator) or the Arrivals.Operator app role',
      })
    }
    expect(await redis.hget(keys.subscriptions(operator.id), id)).toBe(before)
    // The operator of the same tenant may.
    expect((await app.inject({ method: 'GET', url: `/v1/subscriptions/${id}`, headers: as(operator) })).statusCode).toBe(200)
  })
})

describe('subscription quotas', () => {
  it('answers 409 naming the quota and its limit over QUOTA_SUBSCRIPTIONS and QUOTA_SUBSCRIPTIONS_PER_STORE, storing nothing; a re-subscribe still works', async () => {
    const quotaApp = await build(testSettings(ns, [limited], { quotaSubscriptions: 3, quotaSubscriptionsPerStore: 2 }))
    try {
      const first = callbackUrl().url
      expect((await subscribe(quotaApp, limited, { callbackUrl: first, storeId: 'store-1' })).statusCode).toBe(201)
      expect((await subscribe(quotaApp, limited, { callbackUrl: callbackUrl().url, storeId: 'store-1' })).statusCode).toBe(201)
      const perStore = await subscribe(quotaApp, limited, { callbackUrl: callbackUrl().url, storeId: 'store-1' })
      expect(perStore.statusCode).toBe(409)
      expect(perStore.json()).toMatchObject({ code: 'QUOTA_EXCEEDED', message: expect.stringMatching(/quota of 2 subscriptions per store \(QUOTA_SUBSCRIPTIONS_PER_STORE\) on store store-1/) })
      expect((await subscribe(quotaApp, limited, { callbackUrl: callbackUrl().url })).statusCode).toBe(201)
      const stored = await redis.hgetall(keys.subscriptions(limited.id))
      const total = await subscribe(quotaApp, limited, { callbackUrl: callbackUrl().url, storeId: 'store-2' })
      expect(total.statusCode).toBe(409)
      expect(total.json()).toMatchObject({ code: 'QUOTA_EXCEEDED', message: expect.stringMatching(/quota of 3 subscriptions \(QUOTA_SUBSCRIPTIONS\)/) })
      expect(await redis.hgetall(keys.subscriptions(limited.id))).toEqual(stored)
      // The same flow subscribing again is no new subscription: never refused.
      const again = await subscribe(quotaApp, limited, { callbackUrl: first, storeId: 'store-1' })
      expect(again.statusCode).toBe(201)
      expect(Object.keys(await redis.hgetall(keys.subscriptions(limited.id)))).toHaveLength(3)
    } finally {
      await quotaApp.close()
    }
  })
})

describe('the store list', () => {
  const stores = inventoryKeys(ns.namespace).stores
  const who = tenant('stores')
  let storeApp: FastifyInstance

  beforeAll(async () => {
    storeApp = await build(testSettings(ns, [who]))
    const records: Record<string, string> = {}
    for (let n = 1; n <= 250; n++) {
      const storeId = `store-${String(n).padStart(3, '0')}`
      records[storeId] = JSON.stringify({ storeId, name: n === 42 ? 'Contoso Seattle Flagship' : `Store number ${n}`, createdAt: 'x', updatedAt: 'x' })
    }
    await redis.hset(stores(who.id), records)
  })
  afterAll(async () => {
    await storeApp?.close()
  })

  const list = async (query: string) => {
    const response = await storeApp.inject({ method: 'GET', url: `/v1/stores${query}`, headers: as(who) })
    expect(response.statusCode, response.body).toBe(200)
    return response.json() as { items: Array<{ storeId: string; name: string }>; nextCursor?: string }
  }

  it('answers the dropdown a capped first page ordered by ID, and the rest in cursor pages', async () => {
    const first = await list('')
    expect(first.items).toHaveLength(100)
    expect(first.items[0]).toEqual({ storeId: 'store-001', name: 'Store number 1' })
    expect(first.nextCursor).toBe('store-100')
    const seen = [...first.items]
    for (let cursor = first.nextCursor; cursor;) {
      const page = await list(`?limit=70&cursor=${cursor}`)
      seen.push(...page.items)
      cursor = page.nextCursor
    }
    expect(seen.map((store) => store.storeId)).toEqual(Array.from({ length: 250 }, (_, index) => `store-${String(index + 1).padStart(3, '0')}`))
  })

  it('searches IDs and names, in any case', async () => {
    expect((await list('?search=seattle')).items).toEqual([{ storeId: 'store-042', name: 'Contoso Seattle Flagship' }])
    expect((await list('?search=STORE-24')).items.map((store) => store.storeId)).toEqual(['store-240', 'store-241', 'store-242', 'store-243', 'store-244', 'store-245', 'store-246', 'store-247', 'store-248', 'store-249'])
    expect(await list('?search=nowhere')).toEqual({ items: [] })
    const bad = await storeApp.inject({ method: 'GET', url: '/v1/stores?cursor=not%20a%20store', headers: as(who) })
    expect(bad.statusCode).toBe(400)
  })
})

describe('redeliver since', () => {
  it('looks at a bounded number of dead letters per call and says where to go on (nextSince) until done', async () => {
    const id = (await subscribe(app, operator, { callbackUrl: callbackUrl().url })).json().id as string
    const t = Date.now() - 60_000
    const record = (subscriptionId: string, n: number): DeadLetterRecord => ({
      id: `dl_${subscriptionId}_${n}`, class: 'endpoint', tenantId: operator.id, subscriptionId, eventId: `evt-${n}`, reason: 'gave up',
      lastStatus: 500, attempts: 8, deadLetteredAt: new Date(t + n).toISOString(),
      task: {
        kind: 'deliver', deliveryId: deliveryIdFor(`evt-${n}`, subscriptionId), subscriptionId, tenantId: operator.id, eventId: `evt-${n}`,
        eventType: 'inventory.goods-received.v1', attempt: 8, createdAt: t, origin: 'event', lastStatus: 500, lastError: 'HTTP 500',
        payload: { eventId: `evt-${n}`, eventType: 'inventory.goods-received.v1', occurredAt: '2026-03-01T09:30:00.000Z', receiptId: 'r-1', storeId: 'store-1', storeName: 'Store 1', supplier: 'Northwind', receivedAt: '2026-03-01T09:30:00.000Z', items: [{ sku: 'A', quantity: 1 }], totalQuantity: 1 },
      },
    } as DeadLetterRecord)
    // 600 dead letters of another subscription, ours at the start, in the middle and after the first bound.
    const pipeline = redis.pipeline()
    for (let n = 0; n < 600; n++) {
      const subscriptionId = [5, 300, 550].includes(n) ? id : 'sub_other'
      pipeline.hset(keys.deadLetters(operator.id), `dl_${subscriptionId}_${n}`, JSON.stringify(record(subscriptionId, n)))
      pipeline.zadd(keys.deadLettersByTime(operator.id), t + n, `dl_${subscriptionId}_${n}`)
    }
    await pipeline.exec()
    const redeliver = (since: string) => app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/redeliver?since=${encodeURIComponent(since)}`, headers: as(operator) })
    const first = await redeliver(new Date(t).toISOString())
    expect(first.statusCode).toBe(202)
    expect(first.json()).toMatchObject({ count: 2, nextSince: new Date(t + 500).toISOString() })
    const second = await redeliver(first.json().nextSince)
    expect(second.json().count).toBe(1)
    expect(second.json()).not.toHaveProperty('nextSince')
    expect(await redis.zcard(keys.deadLettersByTime(operator.id))).toBe(597)
    // A leap second is a valid RFC 3339 time, not a 500: the one date-time of the HTTP layer refuses it, saying why.
    const leap = await redeliver('2016-12-31T23:59:60Z')
    expect(leap.statusCode).toBe(400)
    expect(leap.json().message).toMatch(/leap second/)
  })
})

describe('failed authentication', () => {
  it('throttles an address after AUTH_FAILURES_PER_MINUTE failures with 429 and Retry-After', async () => {
    const guarded = await build(testSettings(ns, [operator], { authFailuresPerMinute: 5 }))
    try {
      const call = (key: string, remoteAddress: string) => guarded.inject({ method: 'GET', url: '/v1/stores', headers: { 'x-api-key': key }, remoteAddress })
      for (let n = 0; n < 5; n++) expect((await call(`wrong-key-${n}-0123456789`, '192.0.2.7')).statusCode).toBe(401)
      const throttled = await call(operator.apiKey, '192.0.2.7')
      expect(throttled.statusCode).toBe(429)
      expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0)
      expect((await call(operator.apiKey, '192.0.2.8')).statusCode).toBe(200)
      for (let n = 0; n < 20; n++) expect((await call(operator.apiKey, '192.0.2.9')).statusCode).toBe(200)
    } finally {
      await guarded.close()
    }
  })
})
