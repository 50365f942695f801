import { describe, expect, it } from 'vitest'
import { describeAccount, postReceipt, settle, type PostResult } from '@arrivals/e2e/harness'
import { sleep, stream, streamReceipt, useDrill } from '../src/drill.js'

describe('drill: RabbitMQ stopped and started in the middle of a stream', () => {
  const drill = useDrill({ dispatchers: 1 })

  it('answers 503 while the broker is down and loses nothing it answered 202 for', async () => {
    const { stack, platform, rabbit } = drill
    const { a, b } = stack.tenants
    await drill.saveFlow(a, 'A: everything')
    await drill.saveFlow(a, 'A: store-2', { storeId: 'store-2' })
    await drill.saveFlow(b, 'B: everything')

    let phase: 'before' | 'down' | 'after' = 'before'
    const answers = { before: new Map<number, number>(), down: new Map<number, number>(), after: new Map<number, number>() }
    const readiness: number[] = []
    let acceptedAfterRestart = 0
    let stopStream = false
    const posted: PostResult[] = []

    const traffic = stream(100_000, 8, async (n) => {
      if (stopStream) return 'not sent'
      const result = await postReceipt(stack.inventory.url, n % 4 === 3 ? b : a, streamReceipt(n))
      posted.push(result)
      const bucket = answers[phase]
      bucket.set(result.status, (bucket.get(result.status) ?? 0) + 1)
      if (result.status === 503) expect(result.retryAfter, 'a 503 says when to retry').toMatch(/^\d+$/)
      if (phase === 'after' && result.accepted) acceptedAfterRestart++
      return result.accepted ?? String(result.status)
    })

    const outage = (async () => {
      while (platform.notifications.length < 150) await sleep(20)
      await rabbit.stop()
      phase = 'down'
      // While the broker is down: inventory stays alive (healthz 200) and says it is not ready.
      const started = Date.now()
      while (Date.now() - started < 4_000) {
        const ready = await fetch(`${stack.inventory.url}/readyz`).catch(() => undefined)
        if (ready) readiness.push(ready.status)
        await sleep(250)
      }
      expect((await fetch(`${stack.inventory.url}/healthz`)).status).toBe(200)
      await rabbit.start()
      phase = 'after'
      await stack.inventory.waitReady(60_000)
      while (acceptedAfterRestart < 150) await sleep(50)
      stopStream = true
    })()

    const [result] = await Promise.all([traffic, outage])
    console.info('rabbitmq outage drill answers:', JSON.stringify(Object.fromEntries(Object.entries(answers).map(([k, v]) => [k, Object.fromEntries(v)]))))
    // Only 202 (accepted) and 503 (come back later) are honest answers across an outage.
    for (const status of posted.map((p) => p.status)) expect([202, 503]).toContain(status)
    expect(answers.down.get(503) ?? 0, 'receipts refused with 503 while the broker was down').toBeGreaterThan(0)
    expect(readiness.filter((status) => status === 503).length).toBeGreaterThan(0)

    const account = await settle(drill.flows, result.accepted, () => platform.notifications, { timeoutMs: 90_000, quietMs: 2_000 })
    console.info(`rabbitmq outage drill: ${result.accepted.length} accepted; ${describeAccount(account)}`)
    expect(account.missing, describeAccount(account)).toEqual([])
    expect(account.unexpected, describeAccount(account)).toEqual([])
    expect(account.wrongIds, describeAccount(account)).toEqual([])
    expect(platform.invalidNotifications()).toEqual([])
    expect(stack.deadProcesses()).toEqual([])
  })
})
