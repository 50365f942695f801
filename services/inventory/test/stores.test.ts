import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inventoryKeys, StoreRecord } from '@arrivals/contracts'
import { createNamespace } from '@arrivals/test-kit'
import { Value } from '@sinclair/typebox/value'
import { build, tenant, testSettings, type TestTenant } from './support.js'

const ns = createNamespace('inventory-stores')
const contoso = tenant('contoso')
const fabrikam = tenant('fabrikam')
let app: FastifyInstance
let redis: Redis

beforeAll(async () => {
  app = await build(testSettings(ns, [contoso, fabrikam]))
  redis = new Redis(ns.redisUrl)
})
afterAll(async () => {
  await app?.close()
  redis?.disconnect()
  await ns.cleanup()
})

const as = (who: TestTenant) => ({ 'x-api-key': who.apiKey })

describe('store catalogue', () => {
  it('registers (201), renames (200) keeping createdAt, lists and gets', async () => {
    const created = await app.inject({ method: 'PUT', url: '/v1/stores/ams-01', headers: as(contoso), payload: { name: 'Amsterdam' } })
    expect(created.statusCode).toBe(201)
    expect(created.json()).toMatchObject({ storeId: 'ams-01', name: 'Amsterdam' })

    const renamed = await app.inject({ method: 'PUT', url: '/v1/stores/ams-01', headers: as(contoso), payload: { name: 'Amsterdam Centraal' } })
    expect(renamed.statusCode).toBe(200)
    expect(renamed.json()).toMatchObject({ storeId: 'ams-01', name: 'Amsterdam Centraal', createdAt: created.json().createdAt })

    await app.inject({ method: 'PUT', url: '/v1/stores/utr-01', headers: as(contoso), payload: { name: 'Utrecht' } })
    const list = await app.inject({ method: 'GET', url: '/v1/stores', headers: as(contoso) })
    expect(list.statusCode).toBe(200)
    expect(list.json().items.map((s: { storeId: string; name: string }) => [s.storeId, s.name])).toEqual([['ams-01', 'Amsterdam Centraal'], ['utr-01', 'Utrecht']])

    const one = await app.inject({ method: 'GET', url: '/v1/stores/utr-01', headers: as(contoso) })
    expect(one.statusCode).toBe(200)
    expect(one.json().name).toBe('Utrecht')
  })

  it('keeps StoreRecord JSON in the tenant\'s stores hash, where the subscriptions service reads it', async () => {
    await app.inject({ method: 'PUT', url: '/v1/stores/rdm-01', headers: as(contoso), payload: { name: 'Rotterdam' } })
    const json = await redis.hget(inventoryKeys(ns.namespace).stores(contoso.id), 'rdm-01')
    expect(json).not.toBeNull()
    const record: unknown = JSON.parse(json!)
    expect(Value.Check(StoreRecord, record)).toBe(true)
    expect(record).toMatchObject({ storeId: 'rdm-01', name: 'Rotterdam' })
  })

  it('isolates tenants: another tenant neither lists nor gets them, and has its own ams-01', async () => {
    await app.inject({ method: 'PUT', url: '/v1/stores/ams-01', headers: as(contoso), payload: { name: 'Contoso Amsterdam' } })
    expect((await app.inject({ method: 'GET', url: '/v1/stores', headers: as(fabrikam) })).json()).toEqual({ items: [] })
    const hidden = await app.inject({ method: 'GET', url: '/v1/stores/ams-01', headers: as(fabrikam) })
    expect(hidden.statusCode).toBe(404)
    expect(hidden.json().message).toMatch(/no store "ams-01"/)

    const own = await app.inject({ method: 'PUT', url: '/v1/stores/ams-01', headers: as(fabrikam), payload: { name: 'Fabrikam Amsterdam' } })
    expect(own.statusCode).toBe(201)
    expect((await app.inject({ method: 'GET', url: '/v1/stores/ams-01', headers: as(contoso) })).json().name).toBe('Contoso Amsterdam')
  })

  it('refuses bad input with 400, and requires a key', async () => {
    const cases = [
      { url: '/v1/stores/bad.id', payload: { name: 'x' }, message: /storeId must match pattern/ },
      { url: '/v1/stores/ok', payload: { name: '' }, message: /name must NOT have fewer than 1 characters/ },
      { url: '/v1/stores/ok', payload: { name: 'x'.repeat(201) }, message: /name must NOT have more than 200 characters/ },
      { url: '/v1/stores/ok', payload: { name: 'x', city: 'Delft' }, message: /unknown property "city"/ },
      { url: '/v1/stores/ok', payload: {}, message: /must have the property "name"/ },
    ]
    for (const { url, payload, message } of cases) {
      const response = await app.inject({ method: 'PUT', url, headers: as(contoso), payload })
      expect(response.statusCode, JSON.stringify(payload)).toBe(400)
      expect(response.json().message).toMatch(message)
    }
    expect((await app.inject({ method: 'GET', url: '/v1/stores/ok', headers: as(contoso) })).statusCode).toBe(404)
    expect((await app.inject({ method: 'GET', url: '/v1/stores' })).statusCode).toBe(401)
  })
})

describe('authentication', () => {
  it('refuses every documented API operation without a key (401), and with a wrong one', async () => {
    const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> }
    const operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method, url: path.replace(/\{[^}]+\}/g, 'ams-01') })))
    expect(operations.length).toBeGreaterThanOrEqual(4)
    for (const { method, url } of operations) {
      for (const headers of [{}, { 'x-api-key': 'not-a-key-of-anyone-0123' }]) {
        const response = await app.inject({ method: method.toUpperCase() as 'GET', url, headers: { ...headers, 'content-type': 'application/json' }, payload: method === 'get' ? undefined : '{}' })
        expect(response.statusCode, `${method} ${url} ${JSON.stringify(headers)}`).toBe(401)
      }
    }
  })
})
