import { describe, expect, it } from 'vitest'
import { describeAccount, postReceipt, settle } from '@arrivals/e2e/harness'
import { useDrill, stream, streamReceipt } from '../src/drill.js'

const EVENTS = 2_000
const VIA_HTTP = 100

describe('drill: kill -9 one of two dispatchers in the middle of a stream', () => {
  const drill = useDrill({ dispatchers: 2 })

  it('delivers every accepted receipt to every matching flow at least once, duplicates with one webhook-id', async () => {
    const { stack, platform, publisher } = drill
    const { a, b } = stack.tenants
    await drill.saveFlow(a, 'A: everything')
    await drill.saveFlow(a, 'A: store-1', { storeId: 'store-1' })
    await drill.saveFlow(a, 'A: SKU-3', { sku: 'SKU-3' })
    await drill.saveFlow(a, 'A: at least 30', { minQuantity: 30 })
    await drill.saveFlow(b, 'B: everything')

    const [victim, survivor] = stack.dispatchers
    let killedAt = -1
    const killer = (async () => {
      // Once deliveries are flowing through both replicas, the first one dies without any shutdown.
      while (platform.notifications.length < 600) await new Promise((resolve) => setTimeout(resolve, 20))
      killedAt = platform.notifications.length
      const status = await victim!.kill('SIGKILL')
      expect(status.signal).toBe('SIGKILL')
    })()

    const direct = stream(EVENTS, 32, (n) => publisher.publish(n % 5 === 4 ? b.id : a.id, streamReceipt(n)))
    const http = stream(VIA_HTTP, 4, async (n) => {
      const result = await postReceipt(stack.inventory.url, n % 2 ? a : b, streamReceipt(n))
      return result.accepted ?? String(result.status)
    })
    const [viaBroker, viaInventory] = await Promise.all([direct, http])
    await killer
    const accepted = [...viaBroker.accepted, ...viaInventory.accepted]
    expect(viaBroker.refused).toEqual(new Map())
    expect(viaInventory.refused).toEqual(new Map())

    const account = await settle(drill.flows, accepted, () => platform.notifications, { timeoutMs: 120_000, quietMs: 2_000 })
    console.info(`dispatcher crash drill: killed at ${killedAt} notifications; ${describeAccount(account)}`)
    expect(account.missing, describeAccount(account)).toEqual([])
    expect(account.unexpected, describeAccount(account)).toEqual([])
    expect(account.wrongIds, describeAccount(account)).toEqual([])
    expect(account.expected).toBeGreaterThan(EVENTS)
    expect(platform.invalidNotifications()).toEqual([])
    expect(victim!.running).toBe(false)
    expect(survivor!.running).toBe(true)
    expect(stack.deadProcesses()).toEqual([victim!.label])
  })
})
