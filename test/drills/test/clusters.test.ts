import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { brokerTopology, topologyNames, type SubscriptionRecord } from '@arrivals/contracts'
import { createBroker, PublishUnavailableError, type Broker } from '@arrivals/messaging'
import { createRedisClient, isRedisUnavailable, type RedisClient } from '@arrivals/service-kit'
import { createSubscriptionRegistry, type SubscriptionsChanged } from '@arrivals/subscription-registry'
import { registryKeys } from '@arrivals/subscription-registry/layout'
import { waitFor } from '@arrivals/test-kit'
import { RabbitCluster, RedisCluster } from '../src/clusters.js'
import { sleep } from '../src/drill.js'

const quiet = { info() {}, warn() {}, error() {} }

function subscriptionRecord(tenantId: string): SubscriptionRecord {
  const id = `sub_${randomBytes(12).toString('base64url')}`
  const now = new Date().toISOString()
  return {
    id, tenantId, eventType: 'inventory.goods-received.v1', callbackSealed: 'sealed', callbackRedacted: 'https://flows.example/hook',
    fingerprint: `fp-${id}`, secretSealed: 'sealed', filters: {}, status: 'active', flow: { platform: 'api' }, createdAt: now, updatedAt: now,
  }
}

/**
 * The clusters themselves, under the clients every service uses: a 3-node RabbitMQ cluster under
 * messaging's broker client, and a Redis Cluster of 3 masters and 3 replicas under service-kit's
 * Redis client and the subscription registry. One node of each goes away mid-stream.
 */
describe('drill: a RabbitMQ cluster and a Redis Cluster each lose a node under their clients', () => {
  let rabbit: RabbitCluster
  let redis: RedisCluster
  const cleanups: Array<() => Promise<unknown>> = []

  beforeAll(async () => {
    const [rabbitStarted, redisStarted] = await Promise.allSettled([RabbitCluster.start(3), RedisCluster.start(3)])
    if (rabbitStarted.status === 'fulfilled') rabbit = rabbitStarted.value
    if (redisStarted.status === 'fulfilled') redis = redisStarted.value
    for (const started of [rabbitStarted, redisStarted]) if (started.status === 'rejected') throw started.reason
  })
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
    await Promise.allSettled([rabbit?.destroy(), redis?.destroy()])
  })

  it('RabbitMQ: replicas on three nodes; the leader\'s node stops mid-stream; nothing confirmed is lost, redeliveries keep their id', async () => {
    const namespace = `cluster-${randomBytes(4).toString('hex')}`
    const names = topologyNames(namespace)
    const topology = brokerTopology(namespace, { retryDelaysMs: [5_000] })
    // What the clients warned about, by message (a renewed publish channel, reconnects).
    const warned = new Map<string, number>()
    const log = { ...quiet, warn: (_fields: object, message: string) => warned.set(message, (warned.get(message) ?? 0) + 1) }
    const open = (name: string, random?: () => number): Broker => {
      const broker = createBroker({ url: rabbit.amqpUrl, topology, connectionName: name, log, publishTimeoutMs: 3_000, ...(random ? { random } : {}) })
      cleanups.push(() => broker.close())
      return broker
    }
    const declaring = open('drill-declare')
    await declaring.connect(30_000)
    const before = await rabbit.quorumQueue(names.dispatcherEventsQueue)
    for (const queue of topology.queues) expect((await rabbit.quorumQueue(queue.name)).members, queue.name).toHaveLength(3)
    await declaring.close()

    // Publisher and consumer both start on the leader's node, so both must move when it stops.
    const leaderIndex = rabbit.nodes.findIndex((node) => node.nodeName === before.leader)
    const onLeader = () => (leaderIndex + 0.5) / rabbit.nodes.length
    const publisher = open('drill-publisher', onLeader)
    const consumer = open('drill-consumer', onLeader)
    const received: Array<{ id: string; redelivered: boolean }> = []
    consumer.consume({ name: 'events', queue: names.dispatcherEventsQueue, prefetch: 20 }, async (message) => {
      received.push({ id: message.messageId ?? '?', redelivered: message.redelivered })
      // Held a while, so some are unacked when the node goes.
      await sleep(20)
      return 'ack'
    })
    await consumer.whenConsuming(30_000)

    const confirmed = new Set<string>()
    const outcomes = new Map<string, number>()
    let stopped = false
    let stoppedAt = 0
    let firstConfirmAfterStop = 0
    const stream = (async () => {
      for (let n = 0; !stopped; n++) {
        const id = `evt-${n}`
        // Retried with the same id after a refusal, as a store system retries with its Idempotency-Key.
        for (;;) {
          try {
            await publisher.publish({ exchange: names.eventsExchange, routingKey: 'inventory.goods-received.v1', body: Buffer.from(id), properties: { messageId: id } })
            confirmed.add(id)
            outcomes.set('confirmed', (outcomes.get('confirmed') ?? 0) + 1)
            if (stoppedAt && !firstConfirmAfterStop) firstConfirmAfterStop = Date.now()
            break
          } catch (error) {
            const label = error instanceof PublishUnavailableError ? 'PublishUnavailableError' : `${(error as Error).name}: ${(error as Error).message}`
            outcomes.set(label, (outcomes.get(label) ?? 0) + 1)
            await sleep(50)
          }
        }
      }
    })()

    await waitFor(() => received.length >= 200, { timeoutMs: 30_000, what: '200 events consumed before the stop' })
    stoppedAt = Date.now()
    await rabbit.nodeNamed(before.leader).stop()
    const stopMs = Date.now() - stoppedAt
    const receivedAtStop = received.length
    // Every 2 s after the stop: what was confirmed and consumed, and what each client thinks of its connection.
    const timeline: string[] = []
    const sampler = setInterval(() => {
      timeline.push(`${Math.round((Date.now() - stoppedAt) / 1000)}s confirmed ${confirmed.size} consumed ${received.length} ` +
        `publisher ${publisher.connected ? 'connected' : 'away'} consumer ${consumer.consuming ? 'consuming' : 'not consuming'} publishes ${JSON.stringify(Object.fromEntries(outcomes))} ` +
        `warned ${JSON.stringify(Object.fromEntries(warned))}`)
    }, 2_000)
    try {
      await waitFor(() => firstConfirmAfterStop && received.length >= receivedAtStop + 200, { timeoutMs: 60_000, what: '200 more events consumed after the stop' })
    } catch (error) {
      stopped = true
      throw new Error(`${(error as Error).message} (node stop took ${stopMs} ms)\n${timeline.join('\n')}\n` +
        `queues now: ${JSON.stringify(await rabbit.quorumQueue(names.dispatcherEventsQueue).catch((cause: Error) => cause.message))}\n${await rabbit.logWarnings()}`, { cause: error })
    } finally {
      clearInterval(sampler)
    }
    const resumedMs = Date.now() - stoppedAt
    stopped = true
    await stream
    await waitFor(() => [...confirmed].every((id) => received.some((r) => r.id === id)), { timeoutMs: 30_000, what: 'every confirmed event consumed' })
    const after = await rabbit.quorumQueue(names.dispatcherEventsQueue)
    const ids = received.map((r) => r.id)
    const duplicates = ids.length - new Set(ids).size
    console.info(`rabbitmq cluster drill: leader of ${names.dispatcherEventsQueue} ${before.leader} → ${after.leader} ` +
      `(members ${before.members.length}); node stop took ${stopMs} ms; publishing and consuming again ${resumedMs} ms after the stop began; ` +
      `publishes ${JSON.stringify(Object.fromEntries(outcomes))}; consumed ${ids.length} (${duplicates} duplicates, ` +
      `${received.filter((r) => r.redelivered).length} marked redelivered), confirmed ${confirmed.size}; clients warned ${JSON.stringify(Object.fromEntries(warned))}`)
    expect(after.leader).not.toBe(before.leader)
    // A publish in flight when the node went is refused, never confirmed without the broker's word.
    expect([...outcomes.keys()].filter((label) => label !== 'confirmed' && label !== 'PublishUnavailableError')).toEqual([])
    expect(resumedMs).toBeLessThan(60_000)
    expect(consumer.consuming).toBe(true)
    // Nothing was consumed that nobody published.
    expect(ids.filter((id) => !/^evt-\d+$/.test(id))).toEqual([])
  })

  it('Redis Cluster: one tenant, one slot; change signals reach a watcher on any node; a killed master is waited out with 503s, not 500s', async () => {
    const namespace = `cluster-${randomBytes(4).toString('hex')}`
    const client = (name: string): RedisClient => {
      const created = createRedisClient(redis.url, quiet, name, redis.nodes.split(',').map((node) => ({ host: '127.0.0.1', port: Number(node.split(':')[1]) })))
      cleanups.push(() => created.quit().catch(() => created.disconnect()))
      return created
    }
    const writer = createSubscriptionRegistry({ redis: client('drill-writer'), namespace })
    const reader = client('drill-reader')
    const watcher = createSubscriptionRegistry({ redis: reader, namespace })
    const heard: SubscriptionsChanged[] = []
    const watch = watcher.subscriptions.watch((change) => heard.push(change))
    cleanups.push(() => watch.close())
    await waitFor(() => heard.length > 0, { timeoutMs: 20_000, what: 'the watcher subscribed' })

    const tenants = ['contoso', 'fabrikam', 'northwind', 'tailspin', 'woodgrove', 'litware', 'adatum', 'proseware']
    const records = tenants.map(subscriptionRecord)
    for (const record of records) await writer.subscriptions.create(record)
    await waitFor(() => tenants.every((tenant) => heard.some((change) => change.tenantId === tenant)), { timeoutMs: 10_000, what: 'a change signal for every tenant' })

    // Every key of a tenant, attempts and failure streak included, hashes to one slot; tenants spread.
    const keys = registryKeys(namespace, 'cluster')
    const slots = new Set<number>()
    for (const record of records) {
      const tenantKeys = [keys.subscriptions(record.tenantId), keys.fingerprints(record.tenantId), keys.version(record.tenantId), keys.deadLetters(record.tenantId),
        keys.deadLettersByTime(record.tenantId), keys.attempts(record.tenantId, record.id), keys.failures(record.tenantId, record.id),
        keys.storeIndex(record.tenantId, record.eventType, record.filters.storeId), keys.indexed(record.tenantId)]
      const tenantSlots = new Set(await Promise.all(tenantKeys.map((key) => redis.slotOf(key))))
      expect(tenantSlots.size, record.tenantId).toBe(1)
      slots.add([...tenantSlots][0]!)
    }
    // The per-store index the scripts name from the tenant's prefix is written and read in that slot.
    for (const record of records) {
      expect((await writer.subscriptions.candidates(record.tenantId, record.eventType, [record.filters.storeId]))[0]!.ids).toEqual([record.id])
      expect(await writer.subscriptions.ensureIndexed(record.tenantId)).toBe(false)
    }
    const mastersUsed = new Set(await Promise.all([...slots].map(async (slot) => (await redis.masterOf(slot)).port)))
    // Multi-key scripts and per-tenant pipelines work on the cluster.
    await writer.attempts.write({ records: records.map((r) => ({ tenantId: r.tenantId, subscriptionId: r.id, attempts: [] })), succeeded: records.map((r) => ({ tenantId: r.tenantId, subscriptionId: r.id })) })
    await sleep(500)

    const victim = records[0]!
    const master = await redis.masterOf(await redis.slotOf(keys.subscriptions(victim.tenantId)))
    const errors = new Map<string, number>()
    let firstSuccessAfterKill = 0
    const killedAt = Date.now()
    await master.kill()
    while (!firstSuccessAfterKill && Date.now() - killedAt < 60_000) {
      try {
        const stored = await writer.subscriptions.get(victim.tenantId, victim.id)
        expect(stored?.id).toBe(victim.id)
        firstSuccessAfterKill = Date.now()
      } catch (error) {
        const label = isRedisUnavailable(error as Error) ? `503: ${(error as Error).message.slice(0, 60)}` : `500: ${(error as Error).message}`
        errors.set(label, (errors.get(label) ?? 0) + 1)
        await sleep(100)
      }
    }
    const failoverMs = firstSuccessAfterKill - killedAt
    await redis.waitHealthy(60_000)
    const healthyMs = Date.now() - killedAt
    // After the failover: every tenant's subscription is still there and a change still reaches the watcher.
    for (const record of records) expect((await writer.subscriptions.get(record.tenantId, record.id))?.id).toBe(record.id)
    const heardBefore = heard.length
    await writer.subscriptions.update(victim.tenantId, victim.id, (current) => ({ ...current, updatedAt: new Date().toISOString() }))
    await waitFor(() => heard.slice(heardBefore).some((change) => change.tenantId === victim.tenantId), { timeoutMs: 20_000, what: 'a change signal after the failover' })
    console.info(`redis cluster drill: ${tenants.length} tenants on ${slots.size} slots over ${mastersUsed.size} masters; killed master 127.0.0.1:${master.port}; ` +
      `first read ${failoverMs} ms after the kill, cluster healthy after ${healthyMs} ms; errors meanwhile ${JSON.stringify(Object.fromEntries(errors))}`)
    expect(firstSuccessAfterKill).toBeGreaterThan(0)
    expect([...errors.keys()].filter((label) => label.startsWith('500'))).toEqual([])
  })
})
