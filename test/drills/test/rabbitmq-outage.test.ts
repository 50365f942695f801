import { describe, expect, it } from 'vitest'
import { ReceiptSender, describeAccount, settle, type PostResult } from '@arrivals/e2e/harness'
import { sleep, stream, streamReceipt, useDrill } from '../src/drill.js'

describe('drill: RabbitMQ stopped and started in the middle of a stream', () => {
  // Receipts go on faster than a store system would send them: the rate limit is not on trial here.
  const drill = useDrill({ dispatchers: 1, env: { inventory: { RATE_LIMIT_PER_MINUTE: '100000' } } })

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

    // Each receipt is retried after a 503 with the same body and Idempotency-Key until it gets a
    // 202, as a store system does: an event the broker took without confirming is then the same event.
    let retriedAfter503 = 0
    const traffic = stream(100_000, 8, async (n) => {
      if (stopStream) return 'not sent'
      const sender = new ReceiptSender(stack.inventory.url, n % 4 === 3 ? b : a, streamReceipt(n))
      for (;;) {
        const result = await sender.send()
        posted.push(result)
        const bucket = answers[phase]
        bucket.set(result.status, (bucket.get(result.status) ?? 0) + 1)
        if (result.accepted) {
          if (phase === 'after') acceptedAfterRestart++
          if (sender.tries > 1) retriedAfter503++
          return result.accepted
        }
        if (result.status !== 503) return String(result.status)
        expect(result.retryAfter, 'a 503 says when to retry').toMatch(/^\d+$/)
        // Backs off, less than Retry-After asks, to keep the drill short.
        await sleep(100)
      }
    })

    const outage = (async () => {
      while (platform.notifications.length < 150) await sleep(20)
      phase = 'down'
      await rabbit.stop()
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
    expect(result.refused).toEqual(new Map([['not sent', result.refused.get('not sent')]]))
    for (const status of posted.map((p) => p.status)) expect([202, 503]).toContain(status)
    expect(answers.down.get(503) ?? 0, 'receipts refused with 503 while the broker was down').toBeGreaterThan(0)
    expect(readiness.filter((status) => status === 503).length).toBeGreaterThan(0)

    const account = await settle(drill.flows, result.accepted, () => platform.notifications, { timeoutMs: 90_000, quietMs: 2_000 })
    console.info(`rabbitmq outage drill: ${result.accepted.length} accepted (${retriedAfter503} after one or more 503s); ${describeAccount(account)}`)
    expect(account.missing, describeAccount(account)).toEqual([])
    expect(account.unexpected, describeAccount(account)).toEqual([])
    expect(account.wrongIds, describeAccount(account)).toEqual([])
    expect(platform.invalidNotifications()).toEqual([])
    expect(stack.deadProcesses()).toEqual([])
  })
})
