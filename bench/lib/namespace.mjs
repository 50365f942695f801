// Every run gets its own namespace on the shared broker and Redis, and leaves nothing behind. Only
// names under the namespace are ever deleted; the broker itself is never touched.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import amqp from 'amqplib'
import { Redis } from 'ioredis'
import { topologyNames } from '@arrivals/contracts'

export const BULLMQ_QUEUE = 'webhooks'
export const bareQueue = (namespace) => `${namespace}.bare`
export const bareTaskQueue = (namespace) => `${namespace}.bare-tasks`

export function newNamespace() {
  return `bench-${randomBytes(5).toString('hex')}`
}

/** Names rabbitmqctl lists that start with `<namespace>.` (whatever the dispatcher declared too). */
async function brokerNames(kind, namespace) {
  try {
    const { stdout } = await promisify(execFile)('rabbitmqctl', ['--quiet', '--no-table-headers', `list_${kind}`, 'name'], { timeout: 20_000 })
    return stdout.split('\n').map((line) => line.trim()).filter((name) => name.startsWith(`${namespace}.`))
  } catch {
    return []
  }
}

export async function cleanupNamespace(namespace, { amqpUrl, redisUrl, retryDelaysMs = [] }) {
  const names = topologyNames(namespace)
  const queues = new Set([
    names.dispatcherEventsQueue, names.deliveriesQueue, names.deadLettersQueue, bareQueue(namespace), bareTaskQueue(namespace),
    ...retryDelaysMs.map((ms) => names.retryQueue(ms)),
    ...(await brokerNames('queues', namespace)),
  ])
  const exchanges = new Set([
    names.eventsExchange, names.deliveriesExchange, names.retryExchange, names.deadLetterExchange,
    ...(await brokerNames('exchanges', namespace)),
  ])
  const connection = await amqp.connect(amqpUrl)
  try {
    // A failed delete closes its channel, so each delete gets its own.
    for (const [kind, set] of [['Queue', queues], ['Exchange', exchanges]]) {
      for (const name of set) {
        const channel = await connection.createChannel()
        channel.on('error', () => {})
        await channel[`delete${kind}`](name).then(() => channel.close(), () => {})
      }
    }
  } finally {
    await connection.close().catch(() => {})
  }
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 })
  try {
    // Every key of the run (the dispatcher's, the seeded subscriptions, BullMQ's) starts with `<namespace>:`.
    for await (const keys of redis.scanStream({ match: `${namespace}:*`, count: 1000 })) {
      if (keys.length) await redis.unlink(...keys)
    }
  } finally {
    redis.disconnect()
  }
}
