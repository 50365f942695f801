import { describe, expect, it } from 'vitest'
import { describeAccount, postReceipt, settle } from '@arrivals/e2e/harness'
import { sleep, stream, streamReceipt, useDrill } from '../src/drill.js'

describe('drill: Redis restarted in the middle of a stream', () => {
  const drill = useDrill({ dispatchers: 2 })

  it('delivers every accepted receipt once Redis is back, and nothing to the wrong flow', async () => {
    const { stack, platform, publisher, redis } = drill
    const { a, b } = stack.tenants
    await drill.saveFlow(a, 'A: everything')
    await drill.saveFlow(a, 'A: SKU-X', { sku: 'SKU-X' })
    await drill.saveFlow(b, 'B: store-0', { storeId: 'store-0' })

    let restarted = false
    const restart = (async () => {
      while (platform.notifications.length < 300) await sleep(20)
      await redis.stop()
      await sleep(3_000)
      await redis.start()
      restarted = true
    })()

    // The stream goes on through the restart, straight onto the exchange and through inventory.
    const direct = stream(1_500, 16, async (n) => {
      // Paced over ~8 s, so the stream spans the restart.
      if (n > 200) await sleep(90)
      return publisher.publish(n % 3 === 2 ? b.id : a.id, streamReceipt(n))
    })
    const http = stream(200, 4, async (n) => {
      await sleep(150)
      const result = await postReceipt(stack.inventory.url, n % 2 ? a : b, streamReceipt(n))
      return result.accepted ?? String(result.status)
    })
    const [viaBroker, viaInventory] = await Promise.all([direct, http])
    await restart
    expect(restarted).toBe(true)
    expect(viaBroker.refused).toEqual(new Map())
    // Inventory may refuse while its Redis is away, but only with a 503.
    expect([...viaInventory.refused.keys()].filter((status) => status !== '503')).toEqual([])

    const accepted = [...viaBroker.accepted, ...viaInventory.accepted]
    const account = await settle(drill.flows, accepted, () => platform.notifications, { timeoutMs: 90_000, quietMs: 2_000 })
    console.info(`redis restart drill: inventory refused ${JSON.stringify(Object.fromEntries(viaInventory.refused))}; ${describeAccount(account)}`)
    expect(account.missing, describeAccount(account)).toEqual([])
    expect(account.unexpected, describeAccount(account)).toEqual([])
    expect(account.wrongIds, describeAccount(account)).toEqual([])
    expect(platform.invalidNotifications()).toEqual([])
    expect(stack.deadProcesses()).toEqual([])
  })
})
