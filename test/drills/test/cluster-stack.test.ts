import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tenantKey, topologyNames } from '@arrivals/contracts'
import {
  PowerAutomate, ReceiptSender, Stack, describeAccount, printLogsOnFailure, settle, type Flow, type PostResult,
} from '@arrivals/e2e/harness'
import { RabbitCluster, RedisCluster } from '../src/clusters.js'
import { sleep, stream, streamReceipt } from '../src/drill.js'

/**
 * The whole product on clusters: the three services with two dispatchers on a 3-node RabbitMQ
 * cluster and a Redis Cluster of 3 masters and 3 replicas; mid-stream the node leading the
 * dispatcher's events queue stops, then a Redis master is killed.
 * Every service gets every node (AMQP_URL as a list) and starts at a random one, so which of them
 * must move differs from run to run; clusters.test.ts makes a publisher and a consumer move every time.
 */
describe('drill: the services on a RabbitMQ cluster and a Redis Cluster lose a node of each', () => {
  let rabbit: RabbitCluster
  let redis: RedisCluster
  let stack: Stack
  let platform: PowerAutomate
  const flows: { flow: Flow; tenantId: string }[] = []

  beforeAll(async () => {
    const [rabbitStarted, redisStarted] = await Promise.allSettled([RabbitCluster.start(3), RedisCluster.start(3)])
    if (rabbitStarted.status === 'fulfilled') rabbit = rabbitStarted.value
    if (redisStarted.status === 'fulfilled') redis = redisStarted.value
    for (const started of [rabbitStarted, redisStarted]) if (started.status === 'rejected') throw started.reason
    const cluster = { REDIS_CLUSTER_NODES: redis.nodes }
    const namespace = `drill-${randomBytes(4).toString('hex')}`
    stack = await Stack.start({
      amqpUrl: rabbit.amqpUrl,
      redisUrl: redis.url,
      namespace,
      dispatchers: 2,
      env: { inventory: { ...cluster, RATE_LIMIT_PER_MINUTE: '100000' }, subscriptions: cluster, dispatcher: cluster },
    })
    platform = await PowerAutomate.start(stack.subscriptions.url)
  })
  afterAll(async () => {
    await platform?.close()
    await stack?.stop()
    await Promise.allSettled([rabbit?.destroy(), redis?.destroy()])
  })
  printLogsOnFailure(() => stack?.logs())

  it('answers 202, 503 or 409 (retry), delivers every 202 with one webhook-id per delivery, and is ready again within 60 s', async () => {
    const { a, b } = stack.tenants
    for (const [tenant, name, filters] of [[a, 'A: everything', {}], [a, 'A: store-2', { storeId: 'store-2' }], [b, 'B: everything', {}]] as const) {
      flows.push({ flow: await platform.saveFlow({ apiKey: tenant.apiKey, name, filters }), tenantId: tenant.id })
    }
    const statuses = new Map<number, number>()
    const posted: PostResult[] = []
    let acceptedSinceFaults = 0
    let faultsDone = false
    let stopStream = false
    const traffic = stream(100_000, 6, async (n) => {
      if (stopStream) return 'not sent'
      const sender = new ReceiptSender(stack.inventory.url, n % 4 === 3 ? b : a, streamReceipt(n))
      for (;;) {
        const result = await sender.send()
        posted.push(result)
        statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1)
        if (result.accepted) {
          if (faultsDone) acceptedSinceFaults++
          return result.accepted
        }
        // 503: not confirmed; 409: the same Idempotency-Key is still pending from an attempt whose
        // answer was lost in the failover. A store system retries both with the same key.
        if (result.status !== 503 && result.status !== 409) return String(result.status)
        await sleep(100)
      }
    })

    const events = topologyNames(stack.namespace).dispatcherEventsQueue
    const seen: string[] = []
    const faults = (async () => {
      while (platform.notifications.length < 150) await sleep(20)
      const before = await rabbit.quorumQueue(events)
      const stoppedAt = Date.now()
      await rabbit.nodeNamed(before.leader).stop()
      await waitReadyAll(stack, 60_000)
      const after = await rabbit.quorumQueue(events)
      seen.push(`leader of ${events}: ${before.leader} → ${after.leader} (replicas ${before.members.length}); all ready ${Date.now() - stoppedAt} ms after the stop began`)
      await sleep(2_000)
      const slot = await redis.slotOf(tenantKey(stack.namespace, a.id, 'subscriptions', 'cluster'))
      const master = await redis.masterOf(slot)
      const killedAt = Date.now()
      await master.kill()
      await redis.waitHealthy(60_000)
      const failoverMs = Date.now() - killedAt
      await waitReadyAll(stack, 60_000)
      seen.push(`killed Redis master 127.0.0.1:${master.port} (tenant A's slot ${slot}): cluster healthy after ${failoverMs} ms, all ready ${Date.now() - killedAt} ms after the kill`)
      faultsDone = true
      while (acceptedSinceFaults < 150) await sleep(50)
      stopStream = true
    })()

    const [result] = await Promise.all([traffic, faults])
    const account = await settle(flows, result.accepted, () => platform.notifications, { timeoutMs: 90_000, quietMs: 2_000 })
    console.info(`cluster stack drill: ${seen.join('; ')}; answers ${JSON.stringify(Object.fromEntries(statuses))}; ${describeAccount(account)}`)
    for (const status of posted.map((p) => p.status)) expect([202, 409, 503]).toContain(status)
    expect(account.missing, describeAccount(account)).toEqual([])
    expect(account.unexpected, describeAccount(account)).toEqual([])
    expect(account.wrongIds, describeAccount(account)).toEqual([])
    expect(platform.invalidNotifications()).toEqual([])
    expect(stack.deadProcesses()).toEqual([])
  })
})

async function waitReadyAll(stack: Stack, timeoutMs: number): Promise<void> {
  await Promise.all(stack.processes.map((process) => process.waitReady(timeoutMs)))
}
