import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inventoryKeys } from '@arrivals/contracts'
import { createNamespace } from '@arrivals/test-kit'
import { build, EventQueue, postReceipt, receipt, tenant, testSettings } from './support.js'

const ns = createNamespace('inventory-quota')
const contoso = tenant('contoso')
const stores = inventoryKeys(ns.namespace).stores
let app: FastifyInstance
let redis: Redis
let queue: EventQueue

beforeAll(async () => {
  queue = await EventQueue.open(ns)
  app = await build(testSettings(ns, [contoso], { quotaStores: 2, authFailuresPerMinute: 3 }))
  redis = new Redis(ns.redisUrl)
})
afterAll(async () => {
  await app?.close()
  await queue?.close()
  redis?.disconnect()
  await ns.cleanup()
})

describe('the stores quota (QUOTA_STORES)', () => {
  it('refuses a receipt or a PUT for a new store over the quota with 409 naming it, before publishing; known stores always work', async () => {
    expect((await postReceipt(app, contoso, 'store-1', receipt())).statusCode).toBe(202)
    const put = await app.inject({ method: 'PUT', url: '/v1/stores/store-2', headers: { 'x-api-key': contoso.apiKey }, payload: { name: 'Second' } })
    expect(put.statusCode).toBe(201)
    await queue.drain()
    const before = await redis.hgetall(stores(contoso.id))

    const refused = await postReceipt(app, contoso, 'store-3', receipt(), { 'idempotency-key': 'quota-receipt-1' })
    expect(refused.statusCode).toBe(409)
    expect(refused.json()).toMatchObject({ code: 'QUOTA_EXCEEDED', message: expect.stringMatching(/store "store-3" is new and your tenant has reached its quota of 2 stores \(QUOTA_STORES\)/) })
    const putOver = await app.inject({ method: 'PUT', url: '/v1/stores/store-3', headers: { 'x-api-key': contoso.apiKey }, payload: { name: 'Third' } })
    expect(putOver.statusCode).toBe(409)
    expect(await redis.hgetall(stores(contoso.id))).toEqual(before)
    expect(await queue.drain()).toHaveLength(0)

    // Known stores: a receipt, and a rename.
    expect((await postReceipt(app, contoso, 'store-2', receipt())).statusCode).toBe(202)
    expect((await app.inject({ method: 'PUT', url: '/v1/stores/store-1', headers: { 'x-api-key': contoso.apiKey }, payload: { name: 'Renamed' } })).statusCode).toBe(200)
    expect((await queue.events()).map(({ event }) => event.data.storeId)).toEqual(['store-2'])
    // The refused key was freed: the same key for a known store is a new receipt, not a conflict.
    expect((await postReceipt(app, contoso, 'store-1', receipt(), { 'idempotency-key': 'quota-receipt-1' })).statusCode).toBe(202)
  })
})

describe('failed authentication', () => {
  it('throttles an address after AUTH_FAILURES_PER_MINUTE failures (429 + Retry-After); other addresses are not affected', async () => {
    const call = (key: string, remoteAddress: string) => app.inject({ method: 'GET', url: '/v1/stores', headers: { 'x-api-key': key }, remoteAddress })
    for (let n = 0; n < 3; n++) expect((await call('wrong-key-0123456789', '198.51.100.1')).statusCode).toBe(401)
    const throttled = await call(contoso.apiKey, '198.51.100.1')
    expect(throttled.statusCode).toBe(429)
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0)
    expect((await call(contoso.apiKey, '198.51.100.2')).statusCode).toBe(200)
  })
})
