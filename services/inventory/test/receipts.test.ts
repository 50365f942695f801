import { randomUUID } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { GOODS_RECEIVED } from '@arrivals/contracts'
import { createNamespace } from '@arrivals/test-kit'
import { build, EventQueue, postReceipt, receipt, tenant, testSettings } from './support.js'

const ns = createNamespace('inventory-receipts')
const contoso = tenant('contoso')
let app: FastifyInstance
let queue: EventQueue

beforeAll(async () => {
  queue = await EventQueue.open(ns)
  app = await build(testSettings(ns, [contoso]))
})
afterAll(async () => {
  await app?.close()
  await queue?.close()
  await ns.cleanup()
})
beforeEach(async () => {
  await queue.drain()
})

describe('POST /v1/stores/{storeId}/receipts', () => {
  it('publishes exactly one GoodsReceived that validates against the contract, with the tenant set', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const response = await postReceipt(app, contoso, 'store-1', receipt({ receiptId: 'GR-1001', storeName: 'Amsterdam Centraal' }), { traceparent })
    expect(response.statusCode, response.body).toBe(202)
    const answer = response.json<{ eventId: string; receiptId: string }>()
    expect(answer.receiptId).toBe('GR-1001')

    const { event, message } = await queue.only()
    expect(event.id).toBe(answer.eventId)
    expect(event.type).toBe(GOODS_RECEIVED)
    expect(event.tenantid).toBe(contoso.id)
    expect(event.time).toBe('2026-03-01T09:30:00.000Z')
    expect(event.data).toEqual({
      receiptId: 'GR-1001',
      storeId: 'store-1',
      storeName: 'Amsterdam Centraal',
      supplier: 'Northwind Traders',
      receivedAt: '2026-03-01T09:30:00.000Z',
      items: [
        { sku: 'SKU-1', name: 'Oat milk 1 l', quantity: 12, unit: 'case' },
        { sku: 'SKU-2', name: 'Coffee beans', quantity: 3, unit: 'kg' },
      ],
      totalQuantity: 15,
    })
    expect(message.properties.deliveryMode).toBe(2)
    expect(message.fields.routingKey).toBe(GOODS_RECEIVED)
    expect(message.properties.headers?.traceparent).toBe(traceparent)
    expect(message.properties.headers?.tenantid).toBe(contoso.id)
  })

  it('fills receiptId and receivedAt, and registers an unknown store under its id', async () => {
    const before = Date.now()
    const body = receipt()
    delete body.receivedAt
    const response = await postReceipt(app, contoso, 'store-new', body)
    expect(response.statusCode, response.body).toBe(202)
    const { event } = await queue.only()
    expect(event.data.receiptId).toBe(response.json().receiptId)
    expect(event.data.receiptId).toMatch(/^rcpt_/)
    expect(Date.parse(event.data.receivedAt)).toBeGreaterThanOrEqual(before - 1)
    expect(event.data.storeName).toBe('store-new')

    const store = await app.inject({ method: 'GET', url: '/v1/stores/store-new', headers: { 'x-api-key': contoso.apiKey } })
    expect(store.statusCode).toBe(200)
    expect(store.json()).toMatchObject({ storeId: 'store-new', name: 'store-new' })
  })

  it('names the event after the catalogue when the receipt does not name the store', async () => {
    const put = await app.inject({ method: 'PUT', url: '/v1/stores/store-named', headers: { 'x-api-key': contoso.apiKey }, payload: { name: 'Utrecht Oudegracht' } })
    expect(put.statusCode).toBe(201)
    expect((await postReceipt(app, contoso, 'store-named', receipt())).statusCode).toBe(202)
    const { event } = await queue.only()
    expect(event.data.storeName).toBe('Utrecht Oudegracht')
  })

  it('ignores an invalid traceparent instead of refusing the receipt', async () => {
    const response = await postReceipt(app, contoso, 'store-1', receipt(), { traceparent: 'not-a-trace' })
    expect(response.statusCode).toBe(202)
    const { message, event } = await queue.only()
    expect(message.properties.headers?.traceparent).toBeUndefined()
    expect(event.traceparent).toBeUndefined()
  })

  it('counts confirmed publishes in /metrics', async () => {
    await postReceipt(app, contoso, 'store-1', receipt())
    const metrics = await app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.statusCode).toBe(200)
    expect(metrics.body).toMatch(/inventory_events_published_total\{[^}]*outcome="confirmed"[^}]*\} [1-9]/)
    expect(metrics.body).toMatch(/inventory_publish_duration_seconds_count\{[^}]*outcome="confirmed"[^}]*\} [1-9]/)
    expect(metrics.body).toContain('http_request_duration_seconds')
  })
})

describe('Idempotency-Key', () => {
  it('answers the same key and body with the first 202 and publishes one event', async () => {
    const key = randomUUID()
    const body = receipt({ receiptId: undefined })
    const first = await postReceipt(app, contoso, 'store-1', body, { 'idempotency-key': key })
    expect(first.statusCode, first.body).toBe(202)
    // The same JSON with its keys in another order is the same request.
    const reordered = Object.fromEntries(Object.entries(body).reverse())
    const second = await postReceipt(app, contoso, 'store-1', reordered, { 'idempotency-key': key })
    expect(second.statusCode).toBe(202)
    expect(second.json()).toEqual(first.json())
    expect(second.headers['idempotent-replayed']).toBe('true')
    const events = await queue.events()
    expect(events.map((e) => e.event.id)).toEqual([first.json().eventId])
  })

  it('refuses the same key with a different body (422) and publishes nothing for it', async () => {
    const key = randomUUID()
    expect((await postReceipt(app, contoso, 'store-1', receipt(), { 'idempotency-key': key })).statusCode).toBe(202)
    await queue.drain()
    const changed = await postReceipt(app, contoso, 'store-1', receipt({ supplier: 'Contoso Foods' }), { 'idempotency-key': key })
    expect(changed.statusCode).toBe(422)
    expect(changed.json().message).toMatch(/Idempotency-Key was already used with a different request/)
    const otherStore = await postReceipt(app, contoso, 'store-2', receipt(), { 'idempotency-key': key })
    expect(otherStore.statusCode).toBe(422)
    expect(await queue.count()).toBe(0)
  })

  it('keeps keys per tenant: another tenant may use the same key', async () => {
    const fabrikam = tenant('fabrikam')
    const two = await build(testSettings(ns, [contoso, fabrikam]))
    try {
      const key = randomUUID()
      const a = await postReceipt(two, contoso, 'store-1', receipt(), { 'idempotency-key': key })
      const b = await postReceipt(two, fabrikam, 'store-1', receipt({ supplier: 'Other' }), { 'idempotency-key': key })
      expect([a.statusCode, b.statusCode]).toEqual([202, 202])
      expect(a.json().eventId).not.toBe(b.json().eventId)
      expect((await queue.events()).map((e) => e.event.tenantid).sort()).toEqual([contoso.id, fabrikam.id].sort())
    } finally {
      await two.close()
    }
  })

  it('publishes once for concurrent duplicates; the others get the answer or 409 in progress', async () => {
    const key = randomUUID()
    const answers = await Promise.all(Array.from({ length: 8 }, () => postReceipt(app, contoso, 'store-1', receipt(), { 'idempotency-key': key })))
    const statuses = answers.map((a) => a.statusCode)
    for (const status of statuses) expect([202, 409]).toContain(status)
    const accepted = answers.filter((a) => a.statusCode === 202)
    expect(accepted.length).toBeGreaterThanOrEqual(1)
    expect(new Set(accepted.map((a) => a.json().eventId)).size).toBe(1)
    for (const busy of answers.filter((a) => a.statusCode === 409)) {
      expect(busy.headers['retry-after']).toBe('1')
      expect(busy.json().message).toMatch(/in progress/)
    }
    expect(await queue.count()).toBe(1)
    const retried = await postReceipt(app, contoso, 'store-1', receipt(), { 'idempotency-key': key })
    expect(retried.statusCode).toBe(202)
    expect(retried.json()).toEqual(accepted[0]?.json())
  })

  it('frees the key when the request was refused before publishing', async () => {
    const key = randomUUID()
    const refused = await postReceipt(app, contoso, 'store-1', receipt({ receivedAt: '2026-12-31T23:59:60Z' }), { 'idempotency-key': key })
    expect(refused.statusCode).toBe(400)
    const accepted = await postReceipt(app, contoso, 'store-1', receipt(), { 'idempotency-key': key })
    expect(accepted.statusCode).toBe(202)
    expect((await queue.only()).event.id).toBe(accepted.json().eventId)
  })

  it('refuses a malformed key with 400', async () => {
    const response = await postReceipt(app, contoso, 'store-1', receipt(), { 'idempotency-key': 'has spaces and ü' })
    expect(response.statusCode).toBe(400)
    expect(response.json().message).toMatch(/idempotency-key/)
    expect(await queue.count()).toBe(0)
  })
})

describe('bad input: a 4xx that says what to fix, and nothing published', () => {
  const item = { sku: 'SKU-1', name: 'Oat milk', quantity: 1, unit: 'case' }
  const long = (n: number) => 'x'.repeat(n)
  const cases: { name: string; body: unknown; status?: number; message: RegExp }[] = [
    { name: 'missing items', body: receipt({ items: undefined }), message: /must have the property "items"/ },
    { name: 'empty items', body: receipt({ items: [] }), message: /items must NOT have fewer than 1 items/ },
    { name: 'quantity 0', body: receipt({ items: [{ ...item, quantity: 0 }] }), message: /items\/0\/quantity must be >= 1/ },
    { name: 'negative quantity', body: receipt({ items: [{ ...item, quantity: -3 }] }), message: /items\/0\/quantity must be >= 1/ },
    { name: 'fractional quantity', body: receipt({ items: [{ ...item, quantity: 1.5 }] }), message: /items\/0\/quantity must be integer/ },
    { name: 'quantity as a string', body: receipt({ items: [{ ...item, quantity: '5' }] }), message: /items\/0\/quantity must be integer/ },
    { name: 'unknown top-level field', body: receipt({ colour: 'red' }), message: /unknown property "colour"/ },
    { name: 'unknown item field', body: receipt({ items: [{ ...item, price: 3 }] }), message: /items\/0 has an unknown property "price"/ },
    { name: 'missing supplier', body: receipt({ supplier: undefined }), message: /must have the property "supplier"/ },
    { name: 'over-long supplier', body: receipt({ supplier: long(201) }), message: /supplier must NOT have more than 200 characters/ },
    { name: 'over-long sku', body: receipt({ items: [{ ...item, sku: long(65) }] }), message: /sku must NOT have more than 64 characters/ },
    { name: 'over-long item name', body: receipt({ items: [{ ...item, name: long(201) }] }), message: /name must NOT have more than 200 characters/ },
    { name: 'over-long unit', body: receipt({ items: [{ ...item, unit: long(33) }] }), message: /unit must NOT have more than 32 characters/ },
    { name: 'over-long receiptId', body: receipt({ receiptId: long(65) }), message: /receiptId must NOT have more than 64 characters/ },
    { name: 'over-long storeName', body: receipt({ storeName: long(201) }), message: /storeName must NOT have more than 200 characters/ },
    { name: 'too many items', body: receipt({ items: Array.from({ length: 501 }, () => item) }), message: /items must NOT have more than 500 items/ },
    { name: 'receivedAt without a time zone', body: receipt({ receivedAt: '2026-03-01T09:30:00' }), message: /receivedAt must match (format "date-time"|pattern)/ },
    { name: 'over-long receivedAt (fraction digits without end)', body: receipt({ receivedAt: `2026-03-01T09:30:00.${'1'.repeat(40)}Z` }), message: /receivedAt must NOT have more than 35 characters/ },
    { name: 'receivedAt with a space for the T', body: receipt({ receivedAt: '2026-03-01 09:30:00Z' }), message: /receivedAt must match pattern/ },
    // Valid RFC 3339, but no JavaScript date holds it: refused at the door, naming the body's field.
    { name: 'receivedAt on a leap second', body: receipt({ receivedAt: '2016-12-31T23:59:60Z' }), message: /^body\/receivedAt must match format "date-time".*leap second/ },
    // 40 emoji are 80 UTF-16 code units: lengths count as the contract counts, and the body's field is named.
    { name: 'a 40-emoji sku', body: receipt({ items: [{ ...item, sku: '\u{1F34E}'.repeat(40) }] }), message: /^body\/items\/0\/sku must NOT have more than 64 characters/ },
    { name: 'a __proto__ key', body: `{"__proto__":{"admin":true},"supplier":"s","items":${JSON.stringify([item])}}`, message: /"__proto__" key/ },
    { name: 'a __proto__ key spelled with escapes', body: `{"\\u005f_proto__":{},"supplier":"s","items":${JSON.stringify([item])}}`, message: /"__proto__" key/ },
    { name: 'invalid UTF-8', body: Buffer.concat([Buffer.from('{"supplier":"Caf'), Buffer.from([0xe9]), Buffer.from(`","items":${JSON.stringify([item])}}`)]), message: /not valid UTF-8/ },
    { name: 'a JSON array', body: [item], message: /body must be object/ },
    { name: 'invalid JSON', body: '{"supplier": ', message: /not valid JSON/ },
    { name: 'an empty body', body: '', message: /body is empty/ },
  ]

  for (const { name, body, status = 400, message } of cases) {
    it(`${name} → ${status}`, async () => {
      const response = await postReceipt(app, contoso, 'store-1', body)
      expect(response.statusCode, response.body).toBe(status)
      expect(response.json().message).toMatch(message)
      expect(await queue.count()).toBe(0)
    })
  }

  it('a body over 1 MB → 413', async () => {
    const response = await postReceipt(app, contoso, 'store-1', receipt({ supplier: long(1_100_000) }))
    expect(response.statusCode).toBe(413)
    expect(response.json().message).toMatch(/larger than the limit/)
    expect(await queue.count()).toBe(0)
  })

  it('a wrong content type → 415', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await postReceipt(app, contoso, 'store-1', JSON.stringify(receipt()), { 'content-type': contentType })
      expect(response.statusCode, contentType).toBe(415)
      expect(response.json().message).toMatch(/send application\/json/)
    }
    expect(await queue.count()).toBe(0)
  })

  it('a compressed body → 415 that says to send it uncompressed', async () => {
    const gzipped = gzipSync(JSON.stringify(receipt()))
    const response = await app.inject({
      method: 'POST', url: '/v1/stores/store-1/receipts', payload: gzipped,
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-api-key': contoso.apiKey },
    })
    expect(response.statusCode).toBe(415)
    expect(response.json().message).toMatch(/Content-Encoding "gzip"; send the body uncompressed/)
    expect(await queue.count()).toBe(0)
  })

  it('plain JSON labelled gzip → 415, never accepted as if it were uncompressed', async () => {
    const response = await postReceipt(app, contoso, 'store-1', JSON.stringify(receipt()), { 'content-encoding': 'gzip' })
    expect(response.statusCode).toBe(415)
    expect(response.json()).toMatchObject({ code: 'UNSUPPORTED_CONTENT_ENCODING' })
    expect(await queue.count()).toBe(0)
  })

  it('a malformed store id → 400', async () => {
    for (const storeId of ['store%20one', 'st%C3%B6re', 'x'.repeat(65), 'a.b']) {
      const response = await postReceipt(app, contoso, storeId, receipt())
      expect(response.statusCode, storeId).toBe(400)
      expect(response.json().message).toMatch(/params\/storeId must match pattern|storeId must NOT have more than 64 characters/)
    }
    expect(await queue.count()).toBe(0)
  })

  it('a missing or wrong API key → 401', async () => {
    const missing = await app.inject({ method: 'POST', url: '/v1/stores/store-1/receipts', headers: { 'content-type': 'application/json' }, payload: receipt() })
    expect(missing.statusCode).toBe(401)
    expect(missing.json().message).toMatch(/X-API-Key/)
    const wrong = await postReceipt(app, { id: contoso.id, apiKey: 'not-the-key-0123456789' }, 'store-1', receipt())
    expect(wrong.statusCode).toBe(401)
    expect(wrong.json().message).toMatch(/not valid/)
    expect(await queue.count()).toBe(0)
  })
})

describe('documentation', () => {
  it('serves OpenAPI 3 without a key, documenting the receipt route and its errors', async () => {
    const response = await app.inject({ method: 'GET', url: '/docs/json' })
    expect(response.statusCode).toBe(200)
    const document = response.json()
    expect(document.openapi).toMatch(/^3\./)
    const post = document.paths['/v1/stores/{storeId}/receipts'].post
    expect(post.operationId).toBe('recordGoodsReceipt')
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '409', '413', '415', '422', '429', '503']))
    expect(document.paths['/healthz']).toBeUndefined()
    expect(document.components.securitySchemes.apiKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-API-Key' })
    expect((await app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400)
  })

  it('documents a maximum length for every string a caller sends', async () => {
    const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
    const unbounded: string[] = []
    const walk = (schema: unknown, where: string): void => {
      if (Array.isArray(schema)) return schema.forEach((s, i) => walk(s, `${where}[${i}]`))
      if (!schema || typeof schema !== 'object') return
      const node = schema as Record<string, unknown>
      if (node.type === 'string' && node.maxLength === undefined && node.const === undefined && node.enum === undefined) unbounded.push(where)
      for (const [key, value] of Object.entries(node)) walk(value, `${where}/${key}`)
    }
    for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, { parameters?: { name: string }[]; requestBody?: unknown }>>)) {
      for (const [method, operation] of Object.entries(operations)) {
        // traceparent is the one exception: an invalid one is ignored (W3C), so no length refuses it.
        for (const parameter of operation.parameters ?? []) if (parameter.name !== 'traceparent') walk(parameter, `${method} ${path} ${parameter.name}`)
        walk(operation.requestBody, `${method} ${path} body`)
      }
    }
    expect(unbounded).toEqual([])
  })
})
