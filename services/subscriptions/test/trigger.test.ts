import type { FastifyInstance } from 'fastify'
import { gzipSync } from 'node:zlib'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Value } from '@sinclair/typebox/value'
import { createSecretBox, sealingContext, SubscriptionRecord } from '@arrivals/contracts'
import { registryKeys } from '@arrivals/subscription-registry/layout'
import { createNamespace, waitFor } from '@arrivals/test-kit'
import { as, build, callbackUrl, PUBLIC_BASE_URL, subscribe, subscribeToAdjustments, tenant, testSettings } from './support.js'

const ns = createNamespace('subs-trigger')
const contoso = tenant('contoso')
const fabrikam = tenant('fabrikam')
const keys = registryKeys(ns.namespace)
const settings = testSettings(ns, [contoso, fabrikam])
let app: FastifyInstance
let redis: Redis

beforeAll(async () => {
  app = await build(settings)
  redis = new Redis(ns.redisUrl)
})
afterAll(async () => {
  await app?.close()
  redis?.disconnect()
  await ns.cleanup()
})

const platformHeaders = {
  'x-ms-workflow-id': 'wf-0a1b2c',
  'x-ms-workflow-name': 'Store 1 arrivals',
  'x-ms-environment-id': 'Default-1234',
  'x-ms-workflow-subscription-id': 'azure-subscription-shared-by-many',
  'x-ms-trigger-type': 'OpenApiConnectionWebhook',
}

describe('POST /v1/triggers/goods-received', () => {
  it('answers 201 with an absolute Location on the public base, the id and the secret once', async () => {
    const { url } = callbackUrl()
    const response = await subscribe(app, contoso, { callbackUrl: url, storeId: 'store-1', sku: 'OAT-1L', minQuantity: 5 }, platformHeaders)
    expect(response.statusCode, response.body).toBe(201)
    const body = response.json()
    expect(body.id).toMatch(/^sub_[A-Za-z0-9_-]{22}$/)
    expect(response.headers.location).toBe(`${PUBLIC_BASE_URL}/v1/subscriptions/${body.id}`)
    expect(body.signingSecret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/)
    expect(Buffer.from(body.signingSecret.slice(6), 'base64')).toHaveLength(24)
    expect(body).toMatchObject({
      status: 'active',
      eventType: 'inventory.goods-received.v1',
      filters: { storeId: 'store-1', sku: 'OAT-1L', minQuantity: 5 },
      flow: { workflowId: 'wf-0a1b2c', workflowName: 'Store 1 arrivals', environmentId: 'Default-1234', platform: 'power-automate' },
    })
    expect(JSON.stringify(body)).not.toContain('azure-subscription-shared-by-many')
    expect(body.callback).toBe(url.split('?')[0])
  })

  it('gives back the same subscription for the same tenant, callback and filters (201, same Location, no secret)', async () => {
    const { url } = callbackUrl()
    const first = await subscribe(app, contoso, { callbackUrl: url, storeId: 'store-2' }, platformHeaders)
    const again = await subscribe(app, contoso, { storeId: 'store-2', callbackUrl: url }, { ...platformHeaders, 'x-ms-workflow-name': 'Renamed flow' })
    expect(again.statusCode).toBe(201)
    expect(again.headers.location).toBe(first.headers.location)
    expect(again.json().id).toBe(first.json().id)
    expect(again.json().signingSecret).toBeUndefined()
    expect(again.json().flow.workflowName).toBe('Renamed flow')
    // Host case and a default port do not make another subscription.
    const spelled = url.replace('prod-12.westeurope.logic.azure.com', 'PROD-12.westeurope.logic.azure.com:443')
    expect((await subscribe(app, contoso, { callbackUrl: spelled, storeId: 'store-2' })).json().id).toBe(first.json().id)

    // Different filters, another tenant, or another callback: another subscription.
    const other = await Promise.all([
      subscribe(app, contoso, { callbackUrl: url, storeId: 'store-3' }),
      subscribe(app, contoso, { callbackUrl: url }),
      subscribe(app, fabrikam, { callbackUrl: url, storeId: 'store-2' }),
      subscribe(app, contoso, { callbackUrl: `${url}x`, storeId: 'store-2' }),
    ])
    const ids = new Set([first.json().id, ...other.map((r) => r.json().id)])
    expect(ids.size).toBe(5)
  })

  it('creates one subscription when the platform sends the same subscribe concurrently', async () => {
    const { url } = callbackUrl()
    const answers = await Promise.all(Array.from({ length: 8 }, () => subscribe(app, contoso, { callbackUrl: url, sku: 'RACE' })))
    expect(new Set(answers.map((r) => r.statusCode))).toEqual(new Set([201]))
    expect(new Set(answers.map((r) => r.json().id)).size).toBe(1)
    expect(answers.filter((r) => r.json().signingSecret).length).toBe(1)
  })

  it('re-subscribes one flow 30 times at once with differing x-ms-workflow-name: every one succeeds, one subscription', async () => {
    const { url } = callbackUrl()
    const first = await subscribe(app, contoso, { callbackUrl: url, sku: 'RENAMED' })
    expect(first.statusCode).toBe(201)
    const answers = await Promise.all(Array.from({ length: 30 }, (_, n) =>
      subscribe(app, contoso, { callbackUrl: url, sku: 'RENAMED' }, { 'x-ms-workflow-name': `flow renamed ${n}` })))
    expect(answers.map((r) => r.statusCode)).toEqual(Array.from({ length: 30 }, () => 201))
    expect(new Set(answers.map((r) => r.json().id))).toEqual(new Set([first.json().id]))
  })

  it('takes ordered (default false), stores it only when true, and keeps the latest save\'s choice on a re-subscribe', async () => {
    const { url } = callbackUrl()
    const plain = await subscribe(app, contoso, { callbackUrl: url, storeId: 'store-ordered' })
    expect(plain.json().ordered).toBe(false)
    expect(JSON.parse((await redis.hget(keys.subscriptions(contoso.id), plain.json().id))!)).not.toHaveProperty('ordered')

    // The same flow saved with "Deliver in order per store": the same subscription, now ordered.
    const ordered = await subscribe(app, contoso, { callbackUrl: url, storeId: 'store-ordered', ordered: true })
    expect(ordered.statusCode).toBe(201)
    expect(ordered.json()).toMatchObject({ id: plain.json().id, ordered: true })
    expect(JSON.parse((await redis.hget(keys.subscriptions(contoso.id), plain.json().id))!)).toMatchObject({ ordered: true })
    const shown = await app.inject({ method: 'GET', url: `/v1/subscriptions/${plain.json().id}`, headers: as(contoso) })
    expect(shown.json().ordered).toBe(true)

    // Unsubscribing by callback finds it whatever the body says about order.
    const removed = await app.inject({ method: 'DELETE', url: '/v1/triggers/goods-received', headers: as(contoso), payload: { callbackUrl: url, storeId: 'store-ordered', ordered: false } })
    expect(removed.statusCode).toBe(204)

    const bad = await subscribe(app, contoso, { callbackUrl: url, ordered: 'yes' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().message).toContain('ordered')
  })

  it('re-enables a disabled subscription on re-subscribe', async () => {
    const { url } = callbackUrl()
    const first = (await subscribe(app, contoso, { callbackUrl: url })).json()
    const key = keys.subscriptions(contoso.id)
    const record = JSON.parse((await redis.hget(key, first.id))!)
    await redis.hset(key, first.id, JSON.stringify({ ...record, status: 'disabled', disabledReason: 'failed for 24 h', disabledAt: new Date().toISOString() }))

    const again = await subscribe(app, contoso, { callbackUrl: url })
    expect(again.statusCode).toBe(201)
    expect(again.json()).toMatchObject({ id: first.id, status: 'active' })
    const stored = JSON.parse((await redis.hget(key, first.id))!)
    expect(stored.status).toBe('active')
    expect(stored).not.toHaveProperty('disabledReason')
    expect(stored).not.toHaveProperty('disabledAt')
  })

  it('stores a SubscriptionRecord with the callback and secret sealed (never in clear at rest)', async () => {
    const { url, sig } = callbackUrl()
    const body = (await subscribe(app, contoso, { callbackUrl: url, storeId: 'store-9' })).json()
    const raw = await redis.hgetall(keys.subscriptions(contoso.id))
    const json = raw[body.id]!
    expect(json).not.toContain(sig)
    expect(json).not.toContain(body.signingSecret)
    const record: SubscriptionRecord = JSON.parse(json)
    expect(Value.Check(SubscriptionRecord, record)).toBe(true)
    expect(record.callbackRedacted).toBe(url.split('?')[0])
    const box = createSecretBox(settings.encryptionKey)
    expect(box.open(record.callbackSealed, sealingContext.callback(contoso.id, body.id))).toBe(url)
    expect(box.open(record.secretSealed, sealingContext.secret(contoso.id, body.id))).toBe(body.signingSecret)
    expect(await redis.hget(keys.fingerprints(contoso.id), record.fingerprint)).toBe(body.id)
  })

  it('signals every change: INCR version and PUBLISH the tenant, the subscription, its event type and store on subscriptionsChanged', async () => {
    const subscriber = new Redis(ns.redisUrl)
    const messages: string[] = []
    subscriber.on('message', (channel, message) => { if (channel === keys.subscriptionsChanged) messages.push(message) })
    await subscriber.subscribe(keys.subscriptionsChanged)
    try {
      const before = Number(await redis.get(keys.version(fabrikam.id)) ?? 0)
      const { url } = callbackUrl()
      const created = await subscribe(app, fabrikam, { callbackUrl: url })
      await waitFor(() => messages.length >= 1, { what: 'the change message for the subscribe' })
      expect(Number(await redis.get(keys.version(fabrikam.id)))).toBe(before + 1)
      // A re-subscribe of an active one changes nothing, so it signals nothing.
      await subscribe(app, fabrikam, { callbackUrl: url })
      expect(Number(await redis.get(keys.version(fabrikam.id)))).toBe(before + 1)
      await app.inject({ method: 'DELETE', url: `/v1/subscriptions/${created.json().id}`, headers: as(fabrikam) })
      await waitFor(() => messages.length >= 2, { what: 'the change message for the delete' })
      expect(Number(await redis.get(keys.version(fabrikam.id)))).toBe(before + 2)
      const changed = `${fabrikam.id}\n${created.json().id}\ninventory.goods-received.v1\nevery store`
      expect(messages).toEqual([changed, changed])
    } finally {
      subscriber.disconnect()
    }
  })

  it('refuses bad bodies with 400s that say what to fix, never a 5xx', async () => {
    const { url } = callbackUrl()
    const cases: [unknown, RegExp][] = [
      [{}, /must have the property "callbackUrl"/],
      [{ callbackUrl: 42 }, /callbackUrl must be string/],
      [{ callbackUrl: url, storeId: 'no spaces' }, /storeId must match pattern/],
      [{ callbackUrl: url, minQuantity: 0 }, /minQuantity must be >= 1/],
      [{ callbackUrl: url, minQuantity: '5' }, /minQuantity must be integer/],
      [{ callbackUrl: url, colour: 'red' }, /unknown property "colour"/],
      [{ callbackUrl: 'not a url' }, /not an absolute URL/],
      [[], /body must be object/],
    ]
    for (const [payload, message] of cases) {
      const response = await subscribe(app, contoso, payload as Record<string, unknown>)
      expect(response.statusCode, JSON.stringify(payload)).toBe(400)
      expect(response.json().message).toMatch(message)
    }
    const text = await app.inject({ method: 'POST', url: '/v1/triggers/goods-received', headers: { ...as(contoso), 'content-type': 'text/plain' }, payload: 'hello' })
    expect(text.statusCode).toBe(415)
    const broken = await app.inject({ method: 'POST', url: '/v1/triggers/goods-received', headers: { ...as(contoso), 'content-type': 'application/json' }, payload: '{"callbackUrl":' })
    expect(broken.statusCode).toBe(400)
    const noKey = await app.inject({ method: 'POST', url: '/v1/triggers/goods-received', payload: { callbackUrl: url } })
    expect(noKey.statusCode).toBe(401)
    const badKey = await subscribe(app, { id: 'x', apiKey: 'not-a-key-of-anyone-at-all', role: 'maker' }, { callbackUrl: url })
    expect(badKey.statusCode).toBe(401)
  })

  it('takes bodies as inventory does: uncompressed (415 otherwise), valid UTF-8, no __proto__ key', async () => {
    const { url } = callbackUrl()
    const post = (payload: string | Buffer, headers: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: '/v1/triggers/goods-received', headers: { ...as(contoso), 'content-type': 'application/json', ...headers }, payload })
    const json = JSON.stringify({ callbackUrl: url, storeId: 'encoded' })
    for (const [payload, label] of [[gzipSync(json), 'gzip'], [json, 'gzip'], [json, 'br']] as const) {
      const response = await post(payload, { 'content-encoding': label })
      expect(response.statusCode, label).toBe(415)
      expect(response.json().message).toMatch(/send the body uncompressed/)
    }
    const invalidUtf8 = await post(Buffer.concat([Buffer.from(`{"callbackUrl":"${url}","storeId":"caf`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]))
    expect(invalidUtf8.statusCode).toBe(400)
    expect(invalidUtf8.json()).toMatchObject({ code: 'INVALID_UTF8' })
    const proto = await post(`{"callbackUrl":"${url}","__proto__":{"isAdmin":true}}`)
    expect(proto.statusCode).toBe(400)
    expect(proto.json().message).toMatch(/"__proto__" key/)
    // Nothing of them was stored.
    const listed = await app.inject({ method: 'GET', url: '/v1/subscriptions', headers: as(contoso) })
    expect(listed.body).not.toContain('encoded')
    expect(listed.body).not.toContain('\ufffd')
    expect((await post(json, { 'content-encoding': 'identity' })).statusCode).toBe(201)
  })

  it('refuses a body over the limit with 413', async () => {
    const response = await subscribe(app, contoso, { callbackUrl: `https://example.com/${'a'.repeat(settings.bodyLimitBytes)}` })
    expect(response.statusCode).toBe(413)
    expect(response.json().message).toMatch(/larger than the limit/)
  })
})

describe('DELETE /v1/subscriptions/{subscriptionId}', () => {
  it('deletes your own (204), then 404; another tenant gets 404 and the subscription survives', async () => {
    const { url } = callbackUrl()
    const created = await subscribe(app, contoso, { callbackUrl: url, storeId: 'del-1' })
    const location = new URL(created.headers.location as string)
    const foreign = await app.inject({ method: 'DELETE', url: location.pathname, headers: as(fabrikam) })
    expect(foreign.statusCode).toBe(404)
    expect((await app.inject({ method: 'GET', url: location.pathname, headers: as(contoso) })).statusCode).toBe(200)

    // What the dispatcher wrote about it goes with it.
    await redis.lpush(keys.attempts(contoso.id, created.json().id), '{}')
    await redis.hset(keys.failures(contoso.id, created.json().id), 'count', '3')
    expect((await app.inject({ method: 'DELETE', url: location.pathname, headers: as(contoso) })).statusCode).toBe(204)
    expect((await app.inject({ method: 'DELETE', url: location.pathname, headers: as(contoso) })).statusCode).toBe(404)
    expect(await redis.exists(keys.attempts(contoso.id, created.json().id), keys.failures(contoso.id, created.json().id))).toBe(0)
    // Gone from both hashes: a new subscribe makes a new subscription.
    expect(await redis.hget(keys.subscriptions(contoso.id), created.json().id)).toBeNull()
    const again = await subscribe(app, contoso, { callbackUrl: url, storeId: 'del-1' })
    expect(again.json().id).not.toBe(created.json().id)
    expect(again.json().signingSecret).toMatch(/^whsec_/)
  })

  it.each([
    ['DELETE', '/v1/triggers/goods-received'],
    ['POST', '/v1/triggers/goods-received/unsubscribe'],
  ] as const)('unsubscribes by callback URL and filters with %s %s, as a Logic Apps HTTP Webhook trigger does', async (method, path) => {
    const { url } = callbackUrl()
    const storeId = `la-${method.toLowerCase()}`
    const created = await subscribe(app, contoso, { callbackUrl: url, storeId })
    const unsubscribe = (who: typeof contoso, body: Record<string, unknown>) =>
      app.inject({ method, url: path, headers: as(who), payload: body })
    expect((await unsubscribe(fabrikam, { callbackUrl: url, storeId })).statusCode).toBe(404)
    expect((await unsubscribe(contoso, { callbackUrl: url })).statusCode).toBe(404)
    expect(await redis.hget(keys.subscriptions(contoso.id), created.json().id)).not.toBeNull()
    expect((await unsubscribe(contoso, { callbackUrl: url, storeId })).statusCode).toBe(204)
    expect(await redis.hget(keys.subscriptions(contoso.id), created.json().id)).toBeNull()
    expect((await unsubscribe(contoso, { callbackUrl: url, storeId })).statusCode).toBe(404)
    // Without a body there is nothing to find: a 4xx that says so.
    const bare = await app.inject({ method, url: path, headers: as(contoso) })
    expect(bare.statusCode).toBeGreaterThanOrEqual(400)
    expect(bare.statusCode).toBeLessThan(500)
  })

  it('answers 400 for an id that cannot be one', async () => {
    const response = await app.inject({ method: 'DELETE', url: '/v1/subscriptions/not-an-id', headers: as(contoso) })
    expect(response.statusCode).toBe(400)
  })
})

describe('POST /v1/triggers/stock-adjusted', () => {
  it('subscribes to stock adjusted with the reason, store and SKU filters, and records the event type', async () => {
    const { url } = callbackUrl()
    const response = await subscribeToAdjustments(app, contoso, { callbackUrl: url, storeId: 'store-1', reason: 'expired', sku: 'OAT-1L' }, platformHeaders)
    expect(response.statusCode, response.body).toBe(201)
    expect(response.headers.location).toBe(`${PUBLIC_BASE_URL}/v1/subscriptions/${response.json().id}`)
    expect(response.json()).toMatchObject({ eventType: 'inventory.stock-adjusted.v1', filters: { storeId: 'store-1', reason: 'expired', sku: 'OAT-1L' }, status: 'active' })
    expect(response.json().signingSecret).toMatch(/^whsec_/)
    const stored = JSON.parse((await redis.hget(keys.subscriptions(contoso.id), response.json().id))!)
    expect(stored).toMatchObject({ eventType: 'inventory.stock-adjusted.v1', filters: { storeId: 'store-1', reason: 'expired', sku: 'OAT-1L' } })
    const listed = await app.inject({ method: 'GET', url: `/v1/subscriptions/${response.json().id}`, headers: as(contoso) })
    expect(listed.json().eventType).toBe('inventory.stock-adjusted.v1')
  })

  it('gives back the same subscription on a re-subscribe; the same callback on the other trigger is another subscription', async () => {
    const { url } = callbackUrl()
    const first = await subscribeToAdjustments(app, contoso, { callbackUrl: url, reason: 'theft' })
    const again = await subscribeToAdjustments(app, contoso, { reason: 'theft', callbackUrl: url })
    expect(again.statusCode).toBe(201)
    expect(again.json().id).toBe(first.json().id)
    expect(again.headers.location).toBe(first.headers.location)
    expect(again.json().signingSecret).toBeUndefined()
    const otherReason = await subscribeToAdjustments(app, contoso, { callbackUrl: url, reason: 'damaged' })
    const goods = await subscribe(app, contoso, { callbackUrl: url })
    const adjustments = await subscribeToAdjustments(app, contoso, { callbackUrl: url })
    expect(goods.json().eventType).toBe('inventory.goods-received.v1')
    expect(new Set([first, otherReason, goods, adjustments].map((r) => r.json().id)).size).toBe(4)
  })

  it('refuses an unknown reason, and a filter of the other trigger, with a 400 that names it', async () => {
    const { url } = callbackUrl()
    const unknown = await subscribeToAdjustments(app, contoso, { callbackUrl: url, reason: 'lost' })
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json().message).toMatch(/body\/reason must be one of "damaged"/)
    const minQuantity = await subscribeToAdjustments(app, contoso, { callbackUrl: url, minQuantity: 3 })
    expect(minQuantity.statusCode).toBe(400)
    expect(minQuantity.json().message).toMatch(/unknown property "minQuantity"/)
    const reasonOnGoods = await subscribe(app, contoso, { callbackUrl: url, reason: 'damaged' })
    expect(reasonOnGoods.statusCode).toBe(400)
    expect(reasonOnGoods.json().message).toMatch(/unknown property "reason"/)
  })

  it.each([
    ['DELETE', '/v1/triggers/stock-adjusted'],
    ['POST', '/v1/triggers/stock-adjusted/unsubscribe'],
  ] as const)('unsubscribes by callback with %s %s, only from stock adjusted', async (method, path) => {
    const { url } = callbackUrl()
    const adjusted = await subscribeToAdjustments(app, contoso, { callbackUrl: url, reason: 'other' })
    const goods = await subscribe(app, contoso, { callbackUrl: url })
    expect((await app.inject({ method, url: path, headers: as(contoso), payload: { callbackUrl: url } })).statusCode).toBe(404)
    expect((await app.inject({ method, url: path, headers: as(contoso), payload: { callbackUrl: url, reason: 'other' } })).statusCode).toBe(204)
    expect(await redis.hget(keys.subscriptions(contoso.id), adjusted.json().id)).toBeNull()
    expect(await redis.hget(keys.subscriptions(contoso.id), goods.json().id)).not.toBeNull()
    // DELETE on the Location works as for goods received.
    const again = await subscribeToAdjustments(app, contoso, { callbackUrl: url })
    expect((await app.inject({ method: 'DELETE', url: new URL(again.headers.location as string).pathname, headers: as(contoso) })).statusCode).toBe(204)
  })
})

describe('Location behind a proxy', () => {
  it('keeps a path prefix of PUBLIC_BASE_URL', async () => {
    const prefixed = await build(testSettings(ns, [contoso], { publicBaseUrl: 'https://api.contoso.com/arrivals' }))
    try {
      const response = await subscribe(prefixed, contoso, { callbackUrl: callbackUrl().url })
      expect(response.headers.location).toBe(`https://api.contoso.com/arrivals/v1/subscriptions/${response.json().id}`)
    } finally {
      await prefixed.close()
    }
  })

  it('uses X-Forwarded-Proto/-Host only when TRUST_PROXY is set', async () => {
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'arrivals.contoso.com' }
    const trusting = await build(testSettings(ns, [contoso], { publicBaseUrl: undefined, trustProxy: true }))
    const direct = await build(testSettings(ns, [contoso], { publicBaseUrl: undefined, trustProxy: false }))
    try {
      const behind = await subscribe(trusting, contoso, { callbackUrl: callbackUrl().url }, forwarded)
      expect(behind.headers.location).toBe(`https://arrivals.contoso.com/v1/subscriptions/${behind.json().id}`)
      const spoofed = await subscribe(direct, contoso, { callbackUrl: callbackUrl().url }, { ...forwarded, host: 'subscriptions:3002' })
      expect(spoofed.headers.location).toBe(`http://subscriptions:3002/v1/subscriptions/${spoofed.json().id}`)
    } finally {
      await trusting.close()
      await direct.close()
    }
  })
})

describe('rate limit', () => {
  it('announces the limit and answers 429 with Retry-After per credential', async () => {
    const limited = await build(testSettings(ns, [contoso, fabrikam], { rateLimitPerMinute: 3 }))
    try {
      const first = await limited.inject({ method: 'GET', url: '/v1/subscriptions', headers: as(contoso) })
      expect(first.headers['x-ratelimit-limit']).toBe('3')
      expect(first.headers['x-ratelimit-remaining']).toBe('2')
      await limited.inject({ method: 'GET', url: '/v1/subscriptions', headers: as(contoso) })
      await limited.inject({ method: 'GET', url: '/v1/subscriptions', headers: as(contoso) })
      const over = await limited.inject({ method: 'GET', url: '/v1/subscriptions', headers: as(contoso) })
      expect(over.statusCode).toBe(429)
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0)
      expect(over.json().message).toMatch(/rate limit of 3 requests per minute/)
      // Another tenant's key has its own bucket; health needs none.
      expect((await limited.inject({ method: 'GET', url: '/v1/subscriptions', headers: as(fabrikam) })).statusCode).toBe(200)
      expect((await limited.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200)
    } finally {
      await limited.close()
    }
  })
})
