import { createServer, connect, type Socket } from 'node:net'
import { totalQuantity, type GoodsReceivedData } from '@arrivals/contracts'

export function sampleData(overrides: Partial<GoodsReceivedData> = {}): GoodsReceivedData {
  const items = overrides.items ?? [{ sku: 'APL-001', name: 'Apples', quantity: 12, unit: 'case' }, { sku: 'BAN-002', name: 'Bananas', quantity: 3, unit: 'box' }]
  return {
    receiptId: 'rcpt-1', storeId: 'store-042', storeName: 'Amsterdam Centraal', supplier: 'Fresh Farms',
    receivedAt: '2026-11-25T08:30:00.000Z', items, totalQuantity: totalQuantity(items), ...overrides,
  }
}

export interface Forwarder {
  url: string
  /** Drops every open connection (the broker node going away); new ones are still accepted. */
  cutConnections(): void
  /** How many connections it has accepted so far. */
  readonly accepted: number
  close(): Promise<void>
}

/**
 * A TCP forwarder in front of the shared RabbitMQ that delays every chunk in both directions (a broker
 * far away or under load) and can drop its connections, so outages never touch the shared server.
 */
export async function startForwarder(target: string, delayMs = 0): Promise<Forwarder> {
  const upstreamUrl = new URL(target)
  const sockets = new Set<Socket>()
  let accepted = 0
  const forward = (from: Socket, to: Socket, chunk: Buffer) => (delayMs > 0 ? setTimeout(() => to.write(chunk), delayMs) : to.write(chunk))
  const server = createServer((client) => {
    accepted++
    const upstream = connect({ host: upstreamUrl.hostname, port: Number(upstreamUrl.port || 5672) })
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(from)
      from.on('data', (chunk) => forward(from, to, chunk))
      from.on('error', () => {})
      from.on('close', () => {
        sockets.delete(from)
        setTimeout(() => to.destroy(), delayMs)
      })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = new URL(target)
  url.hostname = '127.0.0.1'
  url.port = String((server.address() as { port: number }).port)
  return {
    url: url.toString(),
    get accepted() {
      return accepted
    },
    cutConnections() {
      for (const socket of sockets) socket.destroy()
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
