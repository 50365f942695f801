// The contenders: how each one's events are published, and how its worker process is started.
// Every contender is handed the same events, the same subscriptions and the same concurrency.
import { existsSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname } from 'node:path'
import { Queue } from 'bullmq'
import amqp from 'amqplib'
import { Redis } from 'ioredis'
import { createEventPublisher } from '@arrivals/messaging'
import { startProcess } from './process.mjs'
import { BULLMQ_QUEUE, bareQueue } from './namespace.mjs'
import { seedSubscriptions } from './workload.mjs'

// BENCH_DISPATCHER: another build's server.js (e.g. a checkout of the previous commit), for before/after pairs run by the same bench.
const dispatcherServer = process.env.BENCH_DISPATCHER || new URL('../../services/dispatcher/dist/server.js', import.meta.url).pathname
const contenderScript = (file) => new URL(`../contenders/${file}`, import.meta.url).pathname

export function dispatcherAvailable() {
  return existsSync(dispatcherServer)
}

export async function freePort() {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function waitForReady(url, handle, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  let exited = false
  handle.exited.then(() => { exited = true })
  while (Date.now() < deadline && !exited) {
    const ok = await fetch(url).then((r) => r.ok, () => false)
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(exited ? 'the dispatcher exited before it was ready' : `the dispatcher was not ready within ${timeoutMs} ms`)
}

async function startDispatcher({ namespace, settings, logFile, nodeArgs = [] }) {
  const port = await freePort()
  const handle = startProcess({
    // With BENCH_PROFILE, a V8 CPU profile per dispatcher process lands beside the logs.
    // The V8 flags the image and `pnpm start` run it with (Dockerfile CMD): a young
    // generation capped at 3 × 16 MB instead of growing to ~130 MB under a high allocation rate.
    // The heap limit the Deployment sets (k8s/base/dispatcher.yaml NODE_OPTIONS): without it V8 sizes the old
    // generation from this machine's 24 GB and lets it grow far beyond what is live before collecting.
    args: ['--max-semi-space-size=16', '--max-old-space-size=512', ...settings.dispatcherNodeArgs, ...nodeArgs, ...(settings.profile ? ['--cpu-prof', '--cpu-prof-dir', dirname(logFile)] : []), dispatcherServer],
    logFile,
    env: {
      AMQP_URL: settings.amqpUrl,
      REDIS_URL: settings.redisUrl,
      NAMESPACE: namespace,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      CALLBACK_ENCRYPTION_KEY: settings.encryptionKey,
      CALLBACK_ALLOW_PRIVATE: 'true',
      RETRY_SCHEDULE: settings.retrySchedule,
      DELIVERY_TIMEOUT_MS: '10000',
      ...dispatcherConcurrency(settings.concurrency),
      ...settings.dispatcherEnv,
    },
  })
  try {
    await waitForReady(`http://127.0.0.1:${port}/readyz`, handle)
  } catch (error) {
    await handle.stop()
    throw error
  }
  return handle
}

/** Several dispatcher replicas as one contender: memory is their sum. */
function combined(handles) {
  return {
    exited: Promise.all(handles.map((h) => h.exited)),
    startedAt: Math.min(...handles.map((h) => h.startedAt)),
    peakRssMb: () => handles.reduce((sum, h) => sum + h.peakRssMb(), 0),
    cpuSeconds: () => handles.reduce((sum, h) => sum + h.cpuSeconds(), 0),
    async stop() {
      const ends = await Promise.all(handles.map((h) => h.stop()))
      return ends.find((end) => end.code !== 0) ?? ends[0]
    },
  }
}

/** Starts a reference worker process and waits for its ready message. */
function referenceWorker(script, { namespace, settings, subscriptionsFile, logFile }) {
  const handle = startProcess({
    args: [contenderScript(script)],
    logFile,
    ipc: true,
    env: {
      BENCH_NAMESPACE: namespace,
      AMQP_URL: settings.amqpUrl,
      REDIS_URL: settings.redisUrl,
      BENCH_CONCURRENCY: String(settings.concurrency),
      BENCH_SUBSCRIPTIONS_FILE: subscriptionsFile,
    },
  })
  return handle.readyMessage().then(() => handle, async (error) => {
    await handle.stop()
    throw error
  })
}

export const contenders = {
  arrivals: {
    label: 'Arrivals dispatcher',
    async prepare({ namespace, settings, subscriptions }) {
      const redis = new Redis(settings.redisUrl)
      try {
        // A large scale run hands over its subscriptions in chunks (a function yielding arrays), never all at once.
        if (typeof subscriptions === 'function') for (const chunk of subscriptions()) await seedSubscriptions(redis, namespace, settings.encryptionKey, chunk)
        else await seedSubscriptions(redis, namespace, settings.encryptionKey, subscriptions)
      } finally {
        redis.disconnect()
      }
      // The integrators' publisher (@arrivals/messaging): validated CloudEvents, persistent, mandatory, confirmed.
      const publisher = createEventPublisher({ url: settings.amqpUrl, namespace, clientName: 'arrivals-bench', confirmTimeoutMs: 30_000 })
      await publisher.connect()
      return { publish: (event) => publisher.publish(event), close: () => publisher.close() }
    },
    async start({ namespace, settings, logFile, nodeArgs }) {
      const replicas = await Promise.all(Array.from({ length: settings.dispatcherReplicas }, (_, i) =>
        startDispatcher({ namespace, settings, nodeArgs, logFile: settings.dispatcherReplicas > 1 ? logFile.replace(/\.log$/, `-${i}.log`) : logFile })))
      return replicas.length === 1 ? replicas[0] : combined(replicas)
    },
  },

  // Opt-in diagnostic: Arrivals with every delivery through the task queue (no inline first attempt).
  arrivalsTasks: {
    label: 'Arrivals, every delivery a task',
    scenarios: ['single', 'fanout', 'latency'],
    prepare: (options) => contenders.arrivals.prepare(options),
    start: (options) => contenders.arrivals.start({ ...options, settings: { ...options.settings, dispatcherEnv: { FIRST_ATTEMPT_INLINE: 'false', ...options.settings.dispatcherEnv } } }),
  },

  bullmq: {
    label: 'BullMQ worker + undici',
    async prepare({ namespace, settings, subscriptions, subscriptionsFile }) {
      writeFileSync(subscriptionsFile, JSON.stringify(subscriptions))
      const connection = new Redis(settings.redisUrl, { maxRetriesPerRequest: null })
      const queue = new Queue(BULLMQ_QUEUE, {
        connection,
        prefix: namespace,
        // What a team would configure: retries with backoff, finished jobs not kept.
        defaultJobOptions: { attempts: 5, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: 1000 },
      })
      await queue.waitUntilReady()
      return {
        publish: (event) => queue.add('goods-received', event),
        async close() {
          await queue.close()
          connection.disconnect()
        },
      }
    },
    start: (options) => referenceWorker('bullmq-worker.mjs', options),
  },

  amqp: {
    label: 'bare amqplib loop + undici',
    prepare: prepareBareQueue,
    start: (options) => referenceWorker('amqp-loop.mjs', options),
  },

  amqp2: {
    label: 'bare amqplib, two hops',
    // A diagnostic for the second hop: throughput and latency only.
    scenarios: ['single', 'fanout', 'latency'],
    prepare: prepareBareQueue,
    start: (options) => referenceWorker('amqp-two-hop.mjs', options),
  },
}

async function prepareBareQueue({ namespace, settings, subscriptions, subscriptionsFile }) {
  writeFileSync(subscriptionsFile, JSON.stringify(subscriptions))
  const connection = await amqp.connect(settings.amqpUrl)
  const channel = await connection.createConfirmChannel()
  // The same durability as Arrivals' queues: a replicated quorum queue of persistent messages.
  await channel.assertQueue(bareQueue(namespace), { durable: true, arguments: { 'x-queue-type': 'quorum' } })
  return {
    publish: (event) => new Promise((resolve, reject) => {
      channel.sendToQueue(bareQueue(namespace), Buffer.from(JSON.stringify(event)), { persistent: true, contentType: 'application/cloudevents+json' }, (error) => (error ? reject(error) : resolve()))
    }),
    close: () => connection.close(),
  }
}

/**
 * The dispatcher's own names for prefetch and concurrency (its settings.ts). Everything else, such as
 * ENDPOINT_CONCURRENCY (the per-endpoint cap that isolates a slow endpoint), keeps its default.
 */
function dispatcherConcurrency(concurrency) {
  return {
    EVENTS_PREFETCH: String(concurrency),
    DELIVERY_PREFETCH: String(concurrency),
    DELIVERY_CONCURRENCY: String(concurrency),
  }
}
