import { describe, expect, it } from 'vitest'
import amqp from 'amqplib'
import { Redis } from 'ioredis'
import { waitFor } from '@arrivals/test-kit'
import { GOODS_RECEIVED, topologyNames, type DeadLetterRecord } from '@arrivals/contracts'
import { registryKeys } from '@arrivals/subscription-registry/layout'
import { describeAccount, reconcile, settle, type Notification } from '@arrivals/e2e/harness'
import { stream, streamReceipt, useDrill } from '../src/drill.js'

const EVENTS = 200

describe('drill: receivers that fail, hang and are gone; a malformed message on the exchange', () => {
  const drill = useDrill({ dispatchers: 1, env: { dispatcher: { DELIVERY_TIMEOUT_MS: '1000', CIRCUIT_OPEN_MS: '2000' } } })

  it('delivers to the healthy and the flaky flow, stops delivering to the gone one, and is not held up by the hanging one', async () => {
    const { stack, platform, publisher } = drill
    const { a, b } = stack.tenants
    const healthy = await drill.saveFlow(a, 'healthy')
    // Fails half of the requests: the first attempt of every delivery gets a 500.
    const failedOnce = new Set<string>()
    const flaky = await drill.saveFlow(a, 'flaky', {}, (n: Notification) => {
      if (failedOnce.has(n.webhookId)) return 202
      failedOnce.add(n.webhookId)
      return 500
    })
    const gone = await drill.saveFlow(a, 'gone', {}, () => 410)
    const hanging = await drill.saveFlow(b, 'hanging', {}, () => 'hang')

    const forA = await stream(EVENTS, 16, (n) => publisher.publish(a.id, streamReceipt(n)))
    const forB = await stream(10, 4, (n) => publisher.publish(b.id, streamReceipt(n)))
    expect(forA.refused.size + forB.refused.size).toBe(0)

    const account = await settle([{ flow: healthy, tenantId: a.id }, { flow: flaky, tenantId: a.id }], forA.accepted,
      () => platform.notifications.filter((n) => n.status !== 500 && (n.flow === healthy || n.flow === flaky)), { timeoutMs: 60_000 })
    const healthyOnly = reconcile([{ flow: healthy, tenantId: a.id }], forA.accepted, healthy.notifications)
    console.info(`receivers drill: healthy flow alone: ${describeAccount(healthyOnly)}`)
    // The hanging flow shares the platform's origin with the healthy one (as flows of one region
    // share prod-NN.<region>.logic.azure.com) and must not stall it: no healthy delivery waited
    // anywhere near a queue of timed-out attempts.
    expect(healthyOnly.latencyMs.max, describeAccount(healthyOnly)).toBeLessThan(5_000)
    console.info(`receivers drill: ${describeAccount(account)}; gone got ${gone.notifications.length}, hanging got ${hanging.notifications.length}`)
    expect(account.missing, describeAccount(account)).toEqual([])
    expect(account.unexpected, describeAccount(account)).toEqual([])
    expect(account.wrongIds, describeAccount(account)).toEqual([])
    // Every failed first attempt was retried with the same webhook-id and then succeeded.
    const flakyById = Map.groupBy(flaky.notifications, (n) => n.webhookId)
    expect(flakyById.size).toBe(EVENTS)
    for (const attempts of flakyById.values()) {
      expect(attempts[0]!.status).toBe(500)
      expect(attempts.some((n) => n.status === 202)).toBe(true)
    }

    // 410 Gone removes the subscription: the flow's platform said it will never take another.
    await waitFor(async () => (await fetch(`${stack.subscriptions.url}/v1/subscriptions/${gone.subscriptionId}`, { headers: { 'x-api-key': a.apiKey } })).status === 404,
      { timeoutMs: 20_000, what: 'the gone subscription to be removed' })
    const goneBefore = gone.notifications.length
    expect(goneBefore).toBeGreaterThan(0)
    // Only what was on the wire when the first 410 came back: at most the endpoint cap (default 32).
    expect(goneBefore).toBeLessThanOrEqual(32)
    const more = await stream(20, 4, (n) => publisher.publish(a.id, streamReceipt(n)))
    const moreAccount = await settle([{ flow: healthy, tenantId: a.id }], more.accepted, () => healthy.notifications, { timeoutMs: 30_000 })
    expect(moreAccount.missing).toEqual([])
    expect(gone.notifications.length).toBe(goneBefore)

    // The hanging receiver got its requests, each timed out, and the dispatcher records it.
    expect(hanging.notifications.length).toBeGreaterThan(0)
    const attempts = await waitFor(async () => {
      const response = await fetch(`${stack.subscriptions.url}/v1/subscriptions/${hanging.subscriptionId}/attempts`, { headers: { 'x-api-key': b.apiKey } })
      const text = await response.text()
      return response.status === 200 && /time/i.test(text) && text
    }, { timeoutMs: 20_000, what: 'attempts of the hanging subscription that say it timed out' })
    expect(attempts).not.toContain(hanging.sig)
    expect(platform.invalidNotifications()).toEqual([])
    expect(stack.deadProcesses()).toEqual([])
  })

  it('dead-letters a malformed message with a reason and keeps delivering', async () => {
    const { stack, publisher, rabbit, redis } = drill
    const { a } = stack.tenants
    const names = topologyNames(stack.namespace)
    const keys = registryKeys(stack.namespace)
    const watcher = await drill.saveFlow(a, 'watcher')

    const connection = await amqp.connect(rabbit.amqpUrl)
    const channel = await connection.createConfirmChannel()
    const raw = (body: string, headers: Record<string, string> = {}) => {
      channel.publish(names.eventsExchange, GOODS_RECEIVED, Buffer.from(body), { persistent: true, contentType: 'application/json', headers })
    }
    raw('{ this is not json')
    raw(JSON.stringify({ specversion: '1.0', id: 'evt-malformed-1', type: GOODS_RECEIVED, source: 'urn:drill', tenantid: a.id, data: { storeId: 'x' } }), { tenantid: a.id })
    await channel.waitForConfirms()
    await connection.close()

    // The pipeline is not stuck behind them.
    const after = await publisher.publish(a.id, streamReceipt(1))
    const account = await settle([{ flow: watcher, tenantId: a.id }], [after], () => watcher.notifications.filter((n) => n.payload.eventId === after.eventId), { timeoutMs: 30_000, quietMs: 0 })
    expect(account.missing).toEqual([])

    const client = new Redis(redis.url)
    try {
      const records = await waitFor(async () => {
        const tenantless = (await client.lrange(keys.pipelineDeadLetters, 0, -1)).map((json) => JSON.parse(json) as DeadLetterRecord)
        const ofTenant = Object.values(await client.hgetall(keys.deadLetters(a.id))).map((json) => JSON.parse(json) as DeadLetterRecord)
        const all = [...tenantless, ...ofTenant].filter((record) => record.class === 'pipeline')
        return all.length >= 2 ? all : undefined
      }, { timeoutMs: 20_000, what: 'two pipeline dead letters in Redis' })
      expect(records.some((record) => /json/i.test(record.reason))).toBe(true)
      const invalid = records.find((record) => record.eventId === 'evt-malformed-1' || record.body?.includes('evt-malformed-1'))
      expect(invalid, JSON.stringify(records)).toBeDefined()
      expect(invalid!.reason).toMatch(/invalid|items|data/i)
    } finally {
      client.disconnect()
    }
    expect(stack.deadProcesses()).toEqual([])
  })
})
