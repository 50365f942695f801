import amqp from 'amqplib'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { Value } from '@sinclair/typebox/value'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  brokerTopology, deliveryIdFor, parseDeliveryTask, STOCK_ADJUSTED, StockAdjustedNotification, topologyNames,
  type AttemptRecord, type DeadLetterRecord, type DeliveryTask,
  type GoodsReceivedNotification,
} from '@arrivals/contracts'
import { applyTopology } from '@arrivals/messaging'
import { registryKeys } from '@arrivals/subscription-registry/layout'
import { createNamespace, waitFor } from '@arrivals/test-kit'
import { as, build, callbackUrl, subscribe, subscribeToAdjustments, tenant, testSettings, type TestTenant } from './support.js'

const ns = createNamespace('subs-operator')
const contoso = tenant('contoso')
const fabrikam = tenant('fabrikam')
const keys = registryKeys(ns.namespace)
let app: FastifyInstance
let redis: Redis
let connection: amqp.ChannelModel
let channel: amqp.Channel
const queue = topologyNames(ns.namespace).deliveriesQueue

beforeAll(async () => {
  app = await build(testSettings(ns, [contoso, fabrikam]))
  redis = new Redis(ns.redisUrl)
  connection = await amqp.connect(ns.amqpUrl)
  channel = await connection.createChannel()
  await applyTopology(channel, brokerTopology(ns.namespace))
})
afterAll(async () => {
  await app?.close()
  redis?.disconnect()
  await connection?.close().catch(() => {})
  await ns.cleanup()
})
beforeEach(async () => {
  await channel.purgeQueue(queue)
})

/** Takes every delivery task now on the deliveries queue, as the dispatcher would. */
async function takeTasks(count: number): Promise<DeliveryTask[]> {
  const tasks: DeliveryTask[] = []
  await waitFor(async () => {
    for (;;) {
      const message = await channel.get(queue, { noAck: true })
      if (!message) break
      expect(message.properties.deliveryMode).toBe(2)
      const parsed = parseDeliveryTask(message.content)
      if (!parsed.ok) throw new Error(parsed.reason)
      tasks.push(parsed.task)
    }
    return tasks.length >= count
  }, { what: `${count} delivery tasks` })
  return tasks
}

async function newSubscription(who: TestTenant, filters: Record<string, unknown> = {}): Promise<string> {
  const response = await subscribe(app, who, { callbackUrl: callbackUrl().url, ...filters })
  expect(response.statusCode).toBe(201)
  return response.json().id
}

function task(subscriptionId: string, tenantId: string, eventId: string): DeliveryTask {
  return {
    kind: 'deliver',
    deliveryId: deliveryIdFor(eventId, subscriptionId),
    subscriptionId,
    tenantId,
    eventId,
    eventType: 'inventory.goods-received.v1',
    attempt: 8,
    createdAt: Date.now() - 86_400_000,
    origin: 'event',
    lastStatus: 500,
    lastError: 'HTTP 500',
    payload: {
      eventId, eventType: 'inventory.goods-received.v1', occurredAt: '2026-03-01T09:30:00.000Z', receiptId: 'r-1',
      storeId: 'store-1', storeName: 'Store 1', supplier: 'Northwind', receivedAt: '2026-03-01T09:30:00.000Z',
      items: [{ sku: 'A', name: 'A', quantity: 1, unit: 'case' }], totalQuantity: 1,
    },
  }
}

/** Writes a dead letter the way the dispatcher's archiver does. */
async function deadLetter(tenantId: string, subscriptionId: string, eventId: string, at: Date, withTask = true): Promise<DeadLetterRecord> {
  const record: DeadLetterRecord = {
    id: `dl_${eventId}`,
    class: withTask ? 'endpoint' : 'pipeline',
    tenantId,
    subscriptionId: withTask ? subscriptionId : null,
    eventId,
    reason: withTask ? 'gave up after 8 attempts' : 'invalid event',
    lastStatus: withTask ? 500 : null,
    attempts: withTask ? 8 : 0,
    deadLetteredAt: at.toISOString(),
    ...(withTask ? { task: task(subscriptionId, tenantId, eventId) } : { body: '{"broken":' }),
  }
  await redis.multi()
    .hset(keys.deadLetters(tenantId), record.id, JSON.stringify(record))
    .zadd(keys.deadLettersByTime(tenantId), at.getTime(), record.id)
    .exec()
  return record
}

describe('subscriptions', () => {
  it('lists and gets your own, redacted, and pages with a cursor', async () => {
    const own = await Promise.all([newSubscription(contoso, { storeId: 'a' }), newSubscription(contoso, { storeId: 'b' }), newSubscription(contoso, { storeId: 'c' })])
    const theirs = await newSubscription(fabrikam)
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await app.inject({ method: 'GET', url: `/v1/subscriptions?limit=1${cursor ? `&cursor=${cursor}` : ''}`, headers: as(contoso) })
      expect(page.statusCode).toBe(200)
      for (const item of page.json().items) {
        seen.push(item.id)
        expect(item.callback).toMatch(/^https:\/\/prod-12\.westeurope\.logic\.azure\.com\/workflows\/[0-9a-f]+\/triggers\/manual\/paths\/invoke$/)
        expect(item).not.toHaveProperty('signingSecret')
        expect(item).not.toHaveProperty('callbackSealed')
      }
      cursor = page.json().nextCursor
    } while (cursor)
    expect(seen).toEqual(expect.arrayContaining(own))
    expect(seen).not.toContain(theirs)
    const one = await app.inject({ method: 'GET', url: `/v1/subscriptions/${own[0]}`, headers: as(contoso) })
    expect(one.json()).toMatchObject({ id: own[0], filters: { storeId: 'a' }, status: 'active' })
  })

  it('lists each with its activity: the last attempt and 24 hourly counts of delivered and failed attempts', async () => {
    const id = await newSubscription(contoso)
    const idle = await newSubscription(contoso)
    const at = (agoMs: number, outcome: AttemptRecord['outcome'], status: number): AttemptRecord => ({
      deliveryId: 'msg_act', eventId: 'e-act', attempt: 1, at: new Date(Date.now() - agoMs).toISOString(), outcome, status, durationMs: 31,
    })
    // The dispatcher pushes newest first (LPUSH): oldest pushed first.
    for (const record of [at(30 * 3_600_000, 'delivered', 200), at(5 * 3_600_000, 'retrying', 503), at(60_000, 'delivered', 204)]) {
      await redis.lpush(keys.attempts(contoso.id, id), JSON.stringify(record))
    }
    const items = (await app.inject({ method: 'GET', url: '/v1/subscriptions?limit=500', headers: as(contoso) })).json().items
    const busy = items.find((item: { id: string }) => item.id === id)
    expect(busy.activity.lastAttempt).toMatchObject({ outcome: 'delivered', status: 204, durationMs: 31 })
    expect(busy.activity.delivered.reduce((a: number, b: number) => a + b)).toBe(1)
    expect(busy.activity.failed.reduce((a: number, b: number) => a + b)).toBe(1)
    expect(busy.activity.delivered[23]).toBe(1)
    const quiet = items.find((item: { id: string }) => item.id === idle)
    expect(quiet.activity).toEqual({ delivered: new Array(24).fill(0), failed: new Array(24).fill(0) })
  })

  it('answers 400, not a 5xx, to a cursor no page ever handed out', async () => {
    for (const cursor of ['18446744073709551616', '99999999999999999999']) {
      const response = await app.inject({ method: 'GET', url: `/v1/subscriptions?cursor=${cursor}`, headers: as(contoso) })
      expect(response.statusCode, cursor).toBe(400)
      expect(response.json().message).toMatch(/cursor/)
    }
  })

  it('enables a disabled one (and signals the change)', async () => {
    const id = await newSubscription(contoso)
    const record = JSON.parse((await redis.hget(keys.subscriptions(contoso.id), id))!)
    await redis.hset(keys.subscriptions(contoso.id), id, JSON.stringify({ ...record, status: 'disabled', disabledReason: 'failing since yesterday', disabledAt: new Date().toISOString() }))
    const shown = await app.inject({ method: 'GET', url: `/v1/subscriptions/${id}`, headers: as(contoso) })
    expect(shown.json()).toMatchObject({ status: 'disabled', disabledReason: 'failing since yesterday' })
    expect((await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/test`, headers: as(contoso) })).statusCode).toBe(409)

    const version = Number(await redis.get(keys.version(contoso.id)))
    const enabled = await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/enable`, headers: as(contoso) })
    expect(enabled.statusCode).toBe(200)
    expect(enabled.json().status).toBe('active')
    expect(enabled.json()).not.toHaveProperty('disabledReason')
    expect(Number(await redis.get(keys.version(contoso.id)))).toBe(version + 1)
  })

  it('overrides the flow rate of one subscription, shows it, and goes back to the deployment\'s (400 for what it cannot read)', async () => {
    const id = await newSubscription(contoso)
    const url = `/v1/subscriptions/${id}/flow-rate-limit`
    const version = Number(await redis.get(keys.version(contoso.id)))
    const set = await app.inject({ method: 'PUT', url, headers: as(contoso), payload: { flowRateLimit: '45000/5m' } })
    expect(set.statusCode, set.body).toBe(200)
    expect(set.json()).toMatchObject({ id, flowRateLimit: '45000/5m', ordered: false })
    expect(JSON.parse((await redis.hget(keys.subscriptions(contoso.id), id))!)).toMatchObject({ flowRateLimit: '45000/5m' })
    expect(Number(await redis.get(keys.version(contoso.id)))).toBe(version + 1)
    expect((await app.inject({ method: 'PUT', url, headers: as(contoso), payload: { flowRateLimit: 'unlimited' } })).json().flowRateLimit).toBe('unlimited')

    for (const flowRateLimit of ['45000 per 5m', '0/5m', '10/2d', '10/25h']) {
      const refused = await app.inject({ method: 'PUT', url, headers: as(contoso), payload: { flowRateLimit } })
      expect(refused.statusCode, flowRateLimit).toBe(400)
      expect(refused.json().message).toContain('flowRateLimit')
    }
    expect((await app.inject({ method: 'PUT', url, headers: as(fabrikam), payload: { flowRateLimit: '1/1s' } })).statusCode).toBe(404)

    const reset = await app.inject({ method: 'DELETE', url, headers: as(contoso) })
    expect(reset.statusCode).toBe(200)
    expect(reset.json()).not.toHaveProperty('flowRateLimit')
    expect(JSON.parse((await redis.hget(keys.subscriptions(contoso.id), id))!)).not.toHaveProperty('flowRateLimit')
  })

  it('disables an active one (and signals the change); enable undoes it; another tenant gets 404', async () => {
    const id = await newSubscription(contoso)
    const version = Number(await redis.get(keys.version(contoso.id)))
    const disabled = await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/disable`, headers: as(contoso) })
    expect(disabled.statusCode).toBe(200)
    expect(disabled.json()).toMatchObject({ id, status: 'disabled', disabledReason: 'disabled by an operator' })
    expect(Date.parse(disabled.json().disabledAt)).toBeGreaterThan(Date.now() - 60_000)
    expect(disabled.body).not.toContain('whsec_')
    expect(Number(await redis.get(keys.version(contoso.id)))).toBe(version + 1)
    expect(JSON.parse((await redis.hget(keys.subscriptions(contoso.id), id))!)).toMatchObject({ status: 'disabled' })
    expect((await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/test`, headers: as(contoso) })).statusCode).toBe(409)

    // Twice is no change: the first reason and time stay, no change signal.
    const again = await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/disable`, headers: as(contoso) })
    expect(again.statusCode).toBe(200)
    expect(again.json().disabledAt).toBe(disabled.json().disabledAt)
    expect(Number(await redis.get(keys.version(contoso.id)))).toBe(version + 1)

    const foreign = await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/disable`, headers: as(fabrikam) })
    expect(foreign.statusCode).toBe(404)
    const enabled = await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/enable`, headers: as(contoso) })
    expect(enabled.json().status).toBe('active')
    const missing = await app.inject({ method: 'POST', url: '/v1/subscriptions/sub_nothing-here/disable', headers: as(contoso) })
    expect(missing.statusCode).toBe(404)
    expect((await app.inject({ method: 'POST', url: '/v1/subscriptions/not-an-id/disable', headers: as(contoso) })).statusCode).toBe(400)
  })

  it('rotates the signing secret: a new whsec_ shown once, sealed at rest', async () => {
    const created = (await subscribe(app, contoso, { callbackUrl: callbackUrl().url })).json()
    const before = JSON.parse((await redis.hget(keys.subscriptions(contoso.id), created.id))!)
    const rotated = await app.inject({ method: 'POST', url: `/v1/subscriptions/${created.id}/secret/rotate`, headers: as(contoso) })
    expect(rotated.statusCode).toBe(200)
    expect(rotated.json().signingSecret).toMatch(/^whsec_/)
    expect(rotated.json().signingSecret).not.toBe(created.signingSecret)
    const after = JSON.parse((await redis.hget(keys.subscriptions(contoso.id), created.id))!)
    expect(after.secretSealed).not.toBe(before.secretSealed)
    expect(JSON.stringify(after)).not.toContain(rotated.json().signingSecret)
    expect((await app.inject({ method: 'GET', url: `/v1/subscriptions/${created.id}`, headers: as(contoso) })).body).not.toContain('whsec_')
  })

  it('lists the attempts the dispatcher recorded, newest first', async () => {
    const id = await newSubscription(contoso)
    const attempt = (n: number): AttemptRecord => ({
      deliveryId: 'msg_abc', eventId: 'e-1', attempt: n, at: new Date(Date.now() + n).toISOString(),
      outcome: n < 3 ? 'retrying' : 'delivered', status: n < 3 ? 503 : 200, durationMs: 12,
    })
    for (const n of [1, 2, 3]) await redis.lpush(keys.attempts(contoso.id, id), JSON.stringify(attempt(n)))
    const response = await app.inject({ method: 'GET', url: `/v1/subscriptions/${id}/attempts?limit=2`, headers: as(contoso) })
    expect(response.statusCode).toBe(200)
    expect(response.json().items.map((a: AttemptRecord) => [a.attempt, a.outcome])).toEqual([[3, 'delivered'], [2, 'retrying']])
  })

  it('queues a signed test notification as a DeliveryTask (origin test, fresh msg_ id)', async () => {
    const id = await newSubscription(contoso, { storeId: 'store-7', minQuantity: 20 })
    const response = await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/test`, headers: as(contoso) })
    expect(response.statusCode).toBe(202)
    const [queued] = await takeTasks(1)
    expect(queued).toMatchObject({ kind: 'deliver', origin: 'test', attempt: 1, subscriptionId: id, tenantId: contoso.id, deliveryId: response.json().deliveryId })
    expect(queued!.deliveryId).toMatch(/^msg_/)
    expect(queued!.payload).toMatchObject({ storeId: 'store-7', eventType: 'inventory.goods-received.v1' })
    expect((queued!.payload as GoodsReceivedNotification).totalQuantity).toBeGreaterThanOrEqual(20)
  })

  it('sends a stock-adjusted subscription a stock-adjusted test notification that matches its filters', async () => {
    const created = await subscribeToAdjustments(app, contoso, { callbackUrl: callbackUrl().url, storeId: 'store-8', reason: 'expired', sku: 'MILK-1' })
    const id = created.json().id as string
    const response = await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/test`, headers: as(contoso) })
    expect(response.statusCode).toBe(202)
    const [queued] = await takeTasks(1)
    expect(queued).toMatchObject({ origin: 'test', subscriptionId: id, eventType: STOCK_ADJUSTED })
    expect(queued!.payload).toMatchObject({ eventType: STOCK_ADJUSTED, storeId: 'store-8', reason: 'expired', items: [{ sku: 'MILK-1' }] })
    expect(Value.Check(StockAdjustedNotification, queued!.payload)).toBe(true)
  })
})

describe('dead letters', () => {
  it('lists your dead letters newest first, without payloads; filters by subscription', async () => {
    const sub1 = await newSubscription(contoso)
    const sub2 = await newSubscription(contoso)
    const base = Date.now() - 60_000
    await deadLetter(contoso.id, sub1, `list-${sub1}-old`, new Date(base))
    await deadLetter(contoso.id, sub2, `list-${sub2}-mid`, new Date(base + 1000))
    await deadLetter(contoso.id, sub1, `list-${sub1}-new`, new Date(base + 2000))
    const all = (await app.inject({ method: 'GET', url: '/v1/dead-letters?limit=3', headers: as(contoso) })).json().items
    expect(all.map((d: { eventId: string }) => d.eventId)).toEqual([`list-${sub1}-new`, `list-${sub2}-mid`, `list-${sub1}-old`])
    expect(all[0]).toMatchObject({ subscriptionId: sub1, reason: 'gave up after 8 attempts', lastStatus: 500, attempts: 8, replayable: true })
    expect(all[0]).not.toHaveProperty('task')
    const filtered = (await app.inject({ method: 'GET', url: `/v1/dead-letters?subscriptionId=${sub1}`, headers: as(contoso) })).json().items
    expect(filtered.map((d: { eventId: string }) => d.eventId)).toEqual([`list-${sub1}-new`, `list-${sub1}-old`])
    expect((await app.inject({ method: 'GET', url: '/v1/dead-letters', headers: as(fabrikam) })).json().items).toEqual([])
  })

  it('replays one with its original webhook-id (202), then it is gone', async () => {
    const id = await newSubscription(contoso)
    const record = await deadLetter(contoso.id, id, `replay-${id}`, new Date())
    const foreign = await app.inject({ method: 'POST', url: `/v1/dead-letters/${record.id}/replay`, headers: as(fabrikam) })
    expect(foreign.statusCode).toBe(404)
    const response = await app.inject({ method: 'POST', url: `/v1/dead-letters/${record.id}/replay`, headers: as(contoso) })
    expect(response.statusCode).toBe(202)
    const [queued] = await takeTasks(1)
    expect(queued).toMatchObject({ deliveryId: record.task!.deliveryId, origin: 'replay', attempt: 1, subscriptionId: id, eventId: record.eventId })
    expect(queued).not.toHaveProperty('lastStatus')
    expect(await redis.hget(keys.deadLetters(contoso.id), record.id)).toBeNull()
    expect(await redis.zscore(keys.deadLettersByTime(contoso.id), record.id)).toBeNull()
    expect((await app.inject({ method: 'POST', url: `/v1/dead-letters/${record.id}/replay`, headers: as(contoso) })).statusCode).toBe(404)
  })

  it('refuses to replay a pipeline dead letter (409) and discards it (204, then 404)', async () => {
    const id = await newSubscription(contoso)
    const record = await deadLetter(contoso.id, id, `pipeline-${id}`, new Date(), false)
    const replay = await app.inject({ method: 'POST', url: `/v1/dead-letters/${record.id}/replay`, headers: as(contoso) })
    expect(replay.statusCode).toBe(409)
    expect(replay.json().message).toMatch(/discard it/)
    expect((await app.inject({ method: 'DELETE', url: `/v1/dead-letters/${record.id}`, headers: as(fabrikam) })).statusCode).toBe(404)
    expect((await app.inject({ method: 'DELETE', url: `/v1/dead-letters/${record.id}`, headers: as(contoso) })).statusCode).toBe(204)
    expect((await app.inject({ method: 'DELETE', url: `/v1/dead-letters/${record.id}`, headers: as(contoso) })).statusCode).toBe(404)
  })

  it('redelivers every dead letter of one subscription since T (202 with the count)', async () => {
    const id = await newSubscription(contoso)
    const other = await newSubscription(contoso)
    const t = Date.now() - 30_000
    await deadLetter(contoso.id, id, `before-${id}`, new Date(t - 1000))
    const a = await deadLetter(contoso.id, id, `after1-${id}`, new Date(t))
    const b = await deadLetter(contoso.id, id, `after2-${id}`, new Date(t + 1000))
    await deadLetter(contoso.id, other, `other-${other}`, new Date(t + 500))
    const since = new Date(t).toISOString()
    expect((await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/redeliver?since=${since}`, headers: as(fabrikam) })).statusCode).toBe(404)
    const response = await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/redeliver?since=${encodeURIComponent(since)}`, headers: as(contoso) })
    expect(response.statusCode).toBe(202)
    expect(response.json().count).toBe(2)
    const tasks = await takeTasks(2)
    expect(tasks.map((q) => q.deliveryId).sort()).toEqual([a.task!.deliveryId, b.task!.deliveryId].sort())
    expect(tasks.every((q) => q.origin === 'redeliver' && q.attempt === 1)).toBe(true)
    const left = (await app.inject({ method: 'GET', url: '/v1/dead-letters?limit=500', headers: as(contoso) })).json().items.map((d: { eventId: string }) => d.eventId)
    expect(left).toContain(`before-${id}`)
    expect(left).toContain(`other-${other}`)
    expect(left).not.toContain(`after1-${id}`)
    const bad = await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/redeliver?since=yesterday`, headers: as(contoso) })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().message).toMatch(/since must match format "date-time"/)
    // A leap second is valid RFC 3339 but no date JavaScript can hold: a 400 that says so, never NaN to Redis.
    const leap = await app.inject({ method: 'POST', url: `/v1/subscriptions/${id}/redeliver?since=2016-12-31T23:59:60Z`, headers: as(contoso) })
    expect(leap.statusCode, leap.body).toBe(400)
    expect(leap.json().message).toMatch(/since must match format "date-time".*leap second, :60, is not accepted/)
  })
})

describe('tenant isolation on every route', () => {
  it('answers 404 to another tenant on every subscription route and changes nothing', async () => {
    const created = (await subscribe(app, contoso, { callbackUrl: callbackUrl().url })).json()
    const before = await redis.hget(keys.subscriptions(contoso.id), created.id)
    const routes: [string, string][] = [
      ['GET', `/v1/subscriptions/${created.id}`],
      ['GET', `/v1/subscriptions/${created.id}/attempts`],
      ['POST', `/v1/subscriptions/${created.id}/test`],
      ['POST', `/v1/subscriptions/${created.id}/enable`],
      ['POST', `/v1/subscriptions/${created.id}/disable`],
      ['POST', `/v1/subscriptions/${created.id}/secret/rotate`],
      ['POST', `/v1/subscriptions/${created.id}/redeliver?since=2020-01-01T00:00:00Z`],
      ['DELETE', `/v1/subscriptions/${created.id}`],
    ]
    for (const [method, url] of routes) {
      const response = await app.inject({ method: method as 'GET', url, headers: as(fabrikam) })
      expect(response.statusCode, `${method} ${url}`).toBe(404)
      expect(response.body).not.toContain(contoso.id)
      const anonymous = await app.inject({ method: method as 'GET', url })
      expect(anonymous.statusCode, `${method} ${url} without a key`).toBe(401)
    }
    expect(await redis.hget(keys.subscriptions(contoso.id), created.id)).toBe(before)
    const listed = (await app.inject({ method: 'GET', url: '/v1/subscriptions?limit=500', headers: as(fabrikam) })).json().items.map((s: { id: string }) => s.id)
    expect(listed).not.toContain(created.id)
  })
})
