import { GOODS_RECEIVED, createSecretBox, deliveryIdFor, sealingContext, topologyNames, type DeadLetterRecord, type SubscriptionRecord } from '@arrivals/contracts'
import { historyLimits } from '@arrivals/subscription-registry'
import { startReceiver, waitFor, type Receiver, type ReceivedRequest } from '@arrivals/test-kit'
import amqp from 'amqplib'
import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { atLeast, receipt, tenant, World } from './support.js'

/** Answers per path: the nth request to a path gets the nth answer (the last one repeats). */
const script = new Map<string, { status: number; headers?: Record<string, string>; delayMs?: number }[]>()
const counts = new Map<string, number>()
function answer(request: ReceivedRequest, response: ServerResponse) {
  const path = request.path.split('?')[0]!
  const answers = script.get(path) ?? [{ status: 200 }]
  const n = counts.get(path) ?? 0
  counts.set(path, n + 1)
  const { status, headers, delayMs } = answers[Math.min(n, answers.length - 1)]!
  if (delayMs === undefined) response.writeHead(status, headers).end()
  else setTimeout(() => response.writeHead(status, headers).end(), delayMs)
}

describe('outcomes: retries, Retry-After, 410, exhaustion, dead letters', () => {
  const world = new World()
  const logLines: string[] = []
  let receiver: Receiver
  const at = (path: string) => receiver.requests.filter((r) => r.path.split('?')[0] === path)

  beforeAll(async () => {
    receiver = await startReceiver(answer)
    // Every first attempt through a task (the fan-out's inline first attempt is covered elsewhere).
    await world.start({ firstAttemptInline: false }, { logger: { level: 'debug', stream: { write: (line: string) => logLines.push(line) } } })
  })
  afterAll(async () => {
    await world.close()
    await receiver.close()
  })

  async function deadLetters(tenantId: string): Promise<DeadLetterRecord[]> {
    return Object.values(await world.redis.hgetall(world.keys.deadLetters(tenantId))).map((json) => JSON.parse(json) as DeadLetterRecord)
  }

  it('retries a failing delivery and then delivers it with the same webhook-id', async () => {
    const tenantId = tenant()
    script.set('/retry-then-ok', [{ status: 500 }, { status: 503 }, { status: 200 }])
    const { id } = await world.subscribe({ tenantId, url: `${receiver.url}/retry-then-ok` })
    const event = receipt(tenantId)
    await world.publish(event)
    const requests = await atLeast(3, () => at('/retry-then-ok'), 'three attempts')
    const ids = new Set(requests.map((r) => r.headers['webhook-id']))
    expect([...ids]).toEqual([deliveryIdFor(event.id, id)])
    // The schedule is 100ms,200ms with at most 25% jitter.
    expect(requests[1]!.receivedAt - requests[0]!.receivedAt).toBeGreaterThanOrEqual(70)
    expect(requests[2]!.receivedAt - requests[1]!.receivedAt).toBeGreaterThanOrEqual(145)
    const attempts = await atLeast(3, () => world.attempts(id), 'attempt records')
    expect(attempts.map((a) => [a.attempt, a.outcome, a.status])).toEqual([[3, 'delivered', 200], [2, 'retrying', 503], [1, 'retrying', 500]])
    expect(attempts[2]!.nextAttemptAt).toBeDefined()
  })

  it('honours Retry-After beyond the longest retry tier', async () => {
    const tenantId = tenant()
    script.set('/retry-after', [{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }])
    await world.subscribe({ tenantId, url: `${receiver.url}/retry-after` })
    await world.publish(receipt(tenantId))
    const requests = await atLeast(2, () => at('/retry-after'), 'the retry after Retry-After', 10_000)
    expect(requests[1]!.receivedAt - requests[0]!.receivedAt).toBeGreaterThanOrEqual(1_000)
    expect(requests[1]!.receivedAt - requests[0]!.receivedAt).toBeLessThan(3_000)
  })

  it('removes the subscription when the receiver answers 410 Gone', async () => {
    const tenantId = tenant()
    script.set('/gone', [{ status: 410 }])
    const { id, record } = await world.subscribe({ tenantId, url: `${receiver.url}/gone` })
    const versionBefore = Number(await world.redis.get(world.keys.version(tenantId)))
    // The quota's per-store counts, as the registry's create keeps them: the removal must not leave them stale.
    await world.redis.hset(world.keys.storeCounts(tenantId), 'every store', '1')
    await world.publish(receipt(tenantId))
    await waitFor(async () => !(await world.redis.hexists(world.keys.subscriptions(tenantId), id)), { what: 'the subscription removed' })
    expect(await world.redis.hexists(world.keys.fingerprints(tenantId), record.fingerprint)).toBe(0)
    expect(await world.redis.exists(world.keys.storeCounts(tenantId))).toBe(0)
    expect(Number(await world.redis.get(world.keys.version(tenantId)))).toBeGreaterThan(versionBefore)
    const attempts = await atLeast(1, () => world.attempts(id), 'an attempt record')
    expect(attempts[0]).toMatchObject({ outcome: 'gone', status: 410 })
    // No retry, and the next event finds nothing to deliver to.
    await world.publish(receipt(tenantId))
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(at('/gone')).toHaveLength(1)
  })

  it('sends nothing more to a subscription once its receiver answered 410, not even deliveries already waiting for a send slot', async () => {
    const tenantId = tenant()
    // Slow enough that deliveries queue up behind the endpoint cap (4), fast enough to count as a fast endpoint.
    script.set('/gone-burst', [{ status: 410, delayMs: 80 }])
    const { id } = await world.subscribe({ tenantId, url: `${receiver.url}/gone-burst` })
    await Promise.all(Array.from({ length: 24 }, () => world.publish(receipt(tenantId))))
    await atLeast(24, () => world.attempts(id), 'an attempt record for every delivery')
    const attempts = await world.attempts(id)
    // Only what was already on the wire when the first 410 came back: at most the endpoint cap.
    expect(at('/gone-burst').length).toBeGreaterThan(0)
    expect(at('/gone-burst').length).toBeLessThanOrEqual(4)
    expect(attempts.filter((a) => a.outcome === 'skipped').length).toBe(24 - at('/gone-burst').length)
  })

  it('dead-letters an exhausted delivery with reason, last status and attempts, never the callback URL; a replay delivers it with the same webhook-id', async () => {
    const tenantId = tenant()
    script.set('/always-500', [{ status: 500 }])
    const secretQuery = 'sig=very-secret-signature-abc'
    const { id } = await world.subscribe({ tenantId, url: `${receiver.url}/always-500?${secretQuery}` })
    const event = receipt(tenantId)
    await world.publish(event)
    const [record] = await atLeast(1, () => deadLetters(tenantId), 'the dead letter record', 10_000)
    expect(at('/always-500')).toHaveLength(3)
    expect(record).toMatchObject({ class: 'endpoint', tenantId, subscriptionId: id, eventId: event.id, lastStatus: 500, attempts: 3 })
    expect(record!.id).toMatch(/^dl_/)
    expect(record!.reason).toMatch(/exhausted.*HTTP 500/)
    expect(record!.task?.deliveryId).toBe(deliveryIdFor(event.id, id))
    expect(await world.redis.zscore(world.keys.deadLettersByTime(tenantId), record!.id)).not.toBeNull()
    const attempts = await atLeast(3, () => world.attempts(id), 'three attempt records')
    expect(attempts[0]).toMatchObject({ outcome: 'gave-up', status: 500, attempt: 3 })
    const stored = JSON.stringify(await world.redis.hgetall(world.keys.deadLetters(tenantId))) + JSON.stringify(attempts)
    expect(stored).not.toContain(secretQuery)
    expect(stored).not.toContain(receiver.url)
    // Nor in any log line, at debug level, while it failed, retried and gave up.
    expect(logLines.some((line) => line.includes(id))).toBe(true)
    expect(logLines.filter((line) => line.includes('very-secret'))).toEqual([])

    // A replay (what the subscriptions service publishes: the record's task, attempt 1) delivers
    // again with the original webhook-id once the receiver is healthy.
    script.set('/always-500', [{ status: 200 }])
    counts.delete('/always-500')
    const names = topologyNames(world.ns.namespace)
    const connection = await amqp.connect(world.ns.amqpUrl)
    try {
      const channel = await connection.createConfirmChannel()
      channel.publish(names.deliveriesExchange, 'task', Buffer.from(JSON.stringify({ ...record!.task, attempt: 1, origin: 'replay' })), { persistent: true })
      await channel.waitForConfirms()
    } finally {
      await connection.close()
    }
    const all = await atLeast(4, () => at('/always-500'), 'the replayed delivery')
    expect(all[3]!.headers['webhook-id']).toBe(deliveryIdFor(event.id, id))
    const [latest] = await atLeast(4, () => world.attempts(id), 'the replay attempt')
    expect(latest).toMatchObject({ outcome: 'delivered', attempt: 1 })
  })

  it('dead-letters a delivery whose secrets cannot be opened as a pipeline failure, without sending or counting it against the subscription', async () => {
    const tenantId = tenant()
    const { id, record } = await world.subscribe({ tenantId, url: `${receiver.url}/wrong-key` })
    // Sealed with another key than the dispatcher's (a CALLBACK_ENCRYPTION_KEY mismatch).
    const other = createSecretBox(randomBytes(32))
    const resealed = { ...record, secretSealed: other.seal('whsec_AAAAAAAAAAAAAAAAAAAAAAAA', sealingContext.secret(tenantId, id)) }
    await world.redis.multi().hset(world.keys.subscriptions(tenantId), id, JSON.stringify(resealed)).incr(world.keys.version(tenantId)).exec()
    await world.redis.publish(world.keys.subscriptionsChanged, tenantId)
    const event = receipt(tenantId)
    await world.publish(event)
    const [dead] = await atLeast(1, () => deadLetters(tenantId), 'the dead letter')
    expect(dead).toMatchObject({ class: 'pipeline', subscriptionId: id, eventId: event.id, attempts: 1 })
    expect(dead!.reason).toMatch(/CALLBACK_ENCRYPTION_KEY/)
    expect(dead!.task?.deliveryId).toBe(deliveryIdFor(event.id, id))
    expect(at('/wrong-key')).toHaveLength(0)
    expect(await world.redis.exists(world.keys.failures(tenantId, id))).toBe(0)
  })

  it('gives up on a 4xx after MAX_4XX_ATTEMPTS', async () => {
    const tenantId = tenant()
    script.set('/bad-request', [{ status: 400 }])
    const { id } = await world.subscribe({ tenantId, url: `${receiver.url}/bad-request` })
    await world.publish(receipt(tenantId))
    const [record] = await atLeast(1, () => deadLetters(tenantId), 'the dead letter record')
    expect(record).toMatchObject({ class: 'endpoint', subscriptionId: id, lastStatus: 400, attempts: 2 })
    expect(at('/bad-request')).toHaveLength(2)
  })

  it('dead-letters malformed events and invalid tasks as pipeline failures with the reason', async () => {
    const tenantId = tenant()
    const names = topologyNames(world.ns.namespace)
    const connection = await amqp.connect(world.ns.amqpUrl)
    try {
      const channel = await connection.createConfirmChannel()
      channel.publish(names.eventsExchange, GOODS_RECEIVED, Buffer.from('{ not json'), { headers: { tenantid: tenantId } })
      channel.publish(names.eventsExchange, GOODS_RECEIVED, Buffer.from(JSON.stringify({ specversion: '1.0', id: 'evt-bad-1', type: GOODS_RECEIVED, source: 'urn:test', tenantid: tenantId, time: new Date().toISOString(), data: { storeId: 'x' } })))
      channel.publish(names.eventsExchange, GOODS_RECEIVED, Buffer.from(JSON.stringify({ id: 'evt-no-tenant', type: GOODS_RECEIVED })))
      channel.publish(names.deliveriesExchange, 'task', Buffer.from(JSON.stringify({ kind: 'deliver', tenantId, attempt: 0 })))
      await channel.waitForConfirms()
    } finally {
      await connection.close()
    }
    const records = await atLeast(3, () => deadLetters(tenantId), 'three pipeline dead letters of the tenant')
    expect(records.every((r) => r.class === 'pipeline')).toBe(true)
    expect(records.find((r) => /json/i.test(r.reason))?.body).toBe('{ not json')
    expect(records.find((r) => r.eventId === 'evt-bad-1')?.reason).toMatch(/invalid inventory.goods-received.v1 at \/data/)
    expect(records.find((r) => /invalid delivery task/.test(r.reason))).toBeDefined()
    const tenantless = await waitFor(async () => {
      const list = (await world.redis.lrange(world.keys.pipelineDeadLetters, 0, -1)).map((json) => JSON.parse(json) as DeadLetterRecord)
      return list.find((r) => r.eventId === 'evt-no-tenant')
    }, { what: 'the tenantless dead letter' })
    expect(tenantless).toMatchObject({ class: 'pipeline', tenantId: null })
    // Bounded in age even when no further dead letter comes to trim them: the keys expire.
    for (const key of [world.keys.deadLetters(tenantId), world.keys.deadLettersByTime(tenantId), world.keys.pipelineDeadLetters]) {
      const ttl = await world.redis.pttl(key)
      expect(ttl, key).toBeGreaterThan(historyLimits.deadLetterMaxAgeMs - 60_000)
      expect(ttl, key).toBeLessThanOrEqual(historyLimits.deadLetterMaxAgeMs)
    }
  })

  it('archives a poison message the broker dead-lettered (x-death) as a pipeline dead letter', async () => {
    const tenantId = tenant()
    const names = topologyNames(world.ns.namespace)
    const connection = await amqp.connect(world.ns.amqpUrl)
    try {
      const channel = await connection.createConfirmChannel()
      // What the broker adds when a work queue's delivery limit is reached.
      channel.publish(names.deadLetterExchange, '', Buffer.from(JSON.stringify({ id: 'evt-poison', tenantid: tenantId })), {
        headers: { 'x-death': [{ reason: 'delivery_limit', queue: names.dispatcherEventsQueue, count: 1 }], 'x-first-death-reason': 'delivery_limit' },
      })
      await channel.waitForConfirms()
    } finally {
      await connection.close()
    }
    const [record] = await atLeast(1, () => deadLetters(tenantId), 'the poison dead letter')
    expect(record).toMatchObject({ class: 'pipeline', eventId: 'evt-poison' })
    expect(record!.reason).toMatch(/poison/)
  })

  it('a poison task nested 100,000 deep reaches the dead letters once and stays there', async () => {
    const tenantId = tenant()
    const names = topologyNames(world.ns.namespace)
    const { id } = await world.subscribe({ tenantId, url: `${receiver.url}/poison-task` })
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
    const body = JSON.stringify({ kind: 'deliver', deliveryId: 'msg_poison', subscriptionId: id, tenantId, eventId: 'evt-deep', eventType: GOODS_RECEIVED, attempt: 1, createdAt: Date.now(), origin: 'event', payload: 'X' })
      .replace('"X"', deep)
    const connection = await amqp.connect(world.ns.amqpUrl)
    try {
      const channel = await connection.createConfirmChannel()
      channel.publish(names.deliveriesExchange, 'task', Buffer.from(body), { headers: { tenantid: tenantId } })
      await channel.waitForConfirms()
      const [record] = await atLeast(1, () => deadLetters(tenantId), 'the poison task dead letter')
      expect(record).toMatchObject({ class: 'pipeline', tenantId, reason: 'delivery task is nested deeper than 32 levels' })
      expect(record!.body!.length).toBeLessThanOrEqual(4096)
      // Stays there: no second record, nothing left in (or cycling through) the queues.
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      expect(await deadLetters(tenantId)).toHaveLength(1)
      const check = await connection.createChannel()
      for (const queue of [names.deliveriesQueue, names.deadLettersQueue]) expect((await check.checkQueue(queue)).messageCount, queue).toBe(0)
      expect(at('/poison-task')).toEqual([])
    } finally {
      await connection.close()
    }
  })

  it('parks a dead letter the archive cannot store (its tenant\'s archive key is broken), once, instead of returning it forever', async () => {
    const tenantId = tenant()
    const names = topologyNames(world.ns.namespace)
    await world.redis.set(world.keys.deadLetters(tenantId), 'not a hash')
    const messageId = `dl_${randomBytes(12).toString('base64url')}`
    const connection = await amqp.connect(world.ns.amqpUrl)
    try {
      const channel = await connection.createConfirmChannel()
      channel.publish(names.deadLetterExchange, '', Buffer.from(JSON.stringify({ id: 'evt-unstorable', tenantid: tenantId })), {
        messageId, headers: { tenantid: tenantId, 'x-arrivals-class': 'pipeline', 'x-arrivals-reason': 'invalid event' },
      })
      await channel.waitForConfirms()
      const parked = async () => (await world.redis.lrange(world.keys.pipelineDeadLetters, 0, -1))
        .map((json) => JSON.parse(json) as DeadLetterRecord).filter((r) => r.id === messageId)
      const [record] = await atLeast(1, parked, 'the parked dead letter', 10_000)
      expect(record).toMatchObject({ class: 'pipeline', tenantId })
      expect(record!.reason).toMatch(/^parked: the archive could not store this dead letter \(WRONGTYPE.*because: invalid event$/)
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      expect(await parked()).toHaveLength(1)
      const check = await connection.createChannel()
      expect((await check.checkQueue(names.deadLettersQueue)).messageCount).toBe(0)
    } finally {
      await connection.close()
      await world.redis.del(world.keys.deadLetters(tenantId))
    }
  })

  it('dead-letters an event that fails every time through the real delivery limit, returning it as a failure (reject), never a hand-back (nack)', async () => {
    const tenantId = tenant()
    // A tenant whose subscriptions cannot be read (WRONGTYPE): every fan-out of its events fails.
    await world.redis.set(world.keys.subscriptions(tenantId), 'not a hash')
    // Since RabbitMQ 4.3 only basic.reject counts toward the delivery limit; a nack would loop forever.
    const connection = await amqp.connect(world.ns.amqpUrl)
    const channelPrototype = Object.getPrototypeOf(await connection.createChannel()) as amqp.Channel
    await connection.close()
    const reject = vi.spyOn(channelPrototype, 'reject')
    try {
      const event = receipt(tenantId)
      await world.publish(event)
      const [record] = await atLeast(1, () => deadLetters(tenantId), 'the poison dead letter', 30_000)
      expect(record).toMatchObject({ class: 'pipeline', eventId: event.id })
      expect(record!.reason).toMatch(/poison message.*dispatcher\.events/)
      expect(reject).toHaveBeenCalledWith(expect.anything(), true)
    } finally {
      reject.mockRestore()
      await world.redis.del(world.keys.subscriptions(tenantId))
    }
  }, 40_000)

  it('keeps the subscription record intact for healthy subscriptions', async () => {
    const tenantId = tenant()
    const { id, record } = await world.subscribe({ tenantId, url: `${receiver.url}/healthy` })
    await world.publish(receipt(tenantId))
    await waitFor(() => at('/healthy').length > 0)
    const stored = JSON.parse((await world.redis.hget(world.keys.subscriptions(tenantId), id))!) as SubscriptionRecord
    expect(stored).toEqual(record)
  })
})
