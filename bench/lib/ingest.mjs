// The ingest scenario: how fast receipts get in (inventory's POST, 202 only after the broker confirmed)
// against a bare fastify route that publishes with confirms (the ceiling), and how fast the connector's
// subscribe call makes subscriptions. Each service is a real process; the load comes from undici with
// kept-alive connections. Two measures per contender: receipts/s with `ingestConcurrency` requests in
// flight, then p50/p95/p99 of the 202 at a steady `ingestRate` per second.
import { dirname } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { randomBytes } from 'node:crypto'
import { Pool } from 'undici'
import { createEventPublisher } from '@arrivals/messaging'
import { cleanupNamespace, newNamespace } from './namespace.mjs'
import { startProcess } from './process.mjs'
import { percentiles } from './stats.mjs'
import { BENCH_TENANT } from './workload.mjs'

// BENCH_SERVICES_ROOT: another checkout's root (its built services), for before/after pairs of the ingest runs.
const servicesRoot = process.env.BENCH_SERVICES_ROOT || new URL('../../', import.meta.url).pathname
const server = (service) => `${servicesRoot}/services/${service}/dist/server.js`
const bareIngest = new URL('../contenders/bare-ingest.mjs', import.meta.url).pathname

function receiptBody(k) {
  return JSON.stringify({
    supplier: 'Bench Supplies Ltd',
    items: [{ sku: 'SKU-1001', name: 'Oat milk 1 l', quantity: 24, unit: 'case' }, { sku: 'SKU-2002', name: 'Espresso beans 1 kg', quantity: 6, unit: 'bag' }],
    receiptId: `rcpt-${k}`,
  })
}

async function waitReady(url, handle, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await fetch(url).then((r) => r.ok, () => false)) return
    if (handle.child.exitCode !== null) throw new Error('exited before it was ready')
    await sleep(100)
  }
  throw new Error(`not ready within ${timeoutMs} ms`)
}

/** Sends `count` requests with `concurrency` in flight; answers requests/s and how many were not the expected status. */
async function closedLoop(pool, request, count, concurrency, status) {
  let next = 0
  let failed = 0
  const start = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const k = next++
      const response = await pool.request(request(k)).catch(() => undefined)
      if (!response) failed += 1
      else {
        await response.body.dump()
        if (response.statusCode !== status) failed += 1
      }
    }
  }))
  return { perSecond: Math.round((count * 1000) / (performance.now() - start)), failed }
}

/** Sends at a steady `rate` per second for `seconds`, not waiting for answers before the next send; answers latency percentiles. */
async function paced(pool, request, rate, seconds, status, offset) {
  const total = rate * seconds
  const latencies = []
  const inflight = []
  let failed = 0
  const start = performance.now()
  let sent = 0
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1)
    for (; sent < due; sent += 1) {
      const at = performance.now()
      inflight.push(pool.request(request(offset + sent)).then(async (response) => {
        await response.body.dump()
        if (response.statusCode === status) latencies.push(performance.now() - at)
        else failed += 1
      }, () => {
        failed += 1
      }))
    }
    await sleep(1)
  }
  await Promise.all(inflight)
  return { latencyMs: percentiles(latencies), failed }
}

async function measure({ label, contender, settings, start, request, status, count = settings.ingestCount, rate = settings.ingestRate }) {
  const namespace = newNamespace()
  const result = { scenario: 'ingest', contender, label, namespace }
  process.stdout.write(`· ingest-${contender} (${namespace}) … `)
  const began = performance.now()
  let handle
  let pool
  try {
    // The topology (events exchange, the dispatcher's queue bound to it) exists before any receipt.
    const publisher = createEventPublisher({ url: settings.amqpUrl, namespace, clientName: 'arrivals-bench-topology' })
    await publisher.connect()
    await publisher.close()
    const started = await start(namespace)
    handle = started.handle
    pool = new Pool(started.url, { connections: settings.ingestConcurrency, pipelining: 1 })
    // A short warm-up (connections, JIT, the store catalogue) that is not counted.
    await closedLoop(pool, request, 200, settings.ingestConcurrency, status)
    const loop = await closedLoop(pool, request, count, settings.ingestConcurrency, status)
    result.perSecond = loop.perSecond
    const steady = await paced(pool, request, rate, settings.ingestSeconds, status, 1_000_000)
    result.rate = rate
    result.latencyMs = steady.latencyMs
    result.failed = loop.failed + steady.failed
    result.peakRssMb = handle.peakRssMb()
  } catch (error) {
    result.error = error.message
  } finally {
    await pool?.close().catch(() => {})
    if (handle) {
      result.peakRssMb ??= handle.peakRssMb()
      await handle.stop()
    }
    await cleanupNamespace(namespace, { amqpUrl: settings.amqpUrl, redisUrl: settings.redisUrl }).catch(() => {})
  }
  result.seconds = Math.round((performance.now() - began) / 100) / 10
  console.log(result.error ? `FAILED: ${result.error}` : `${result.seconds} s`)
  return result
}

/** The ingest runs: inventory, the bare fastify route, and the subscriptions service's subscribe call. */
export async function ingestRuns(settings, { port, logFile, receiverUrl }) {
  const apiKey = randomBytes(24).toString('hex')
  const common = (namespace) => ({
    AMQP_URL: settings.amqpUrl, REDIS_URL: settings.redisUrl, NAMESPACE: namespace, HOST: '127.0.0.1', LOG_LEVEL: 'warn',
    API_KEYS: `${BENCH_TENANT}:${apiKey}`, RATE_LIMIT_PER_MINUTE: '1000000',
  })
  const service = (name, env) => async (namespace) => {
    const servicePort = await port()
    const file = logFile(`ingest-${name}`)
    // The flags of the image's CMD and of the service's Deployment (k8s/base: 256 MB heap); BENCH_PROFILE adds a CPU profile.
    const flags = ['--max-semi-space-size=16', '--max-old-space-size=256', ...(settings.profile ? ['--cpu-prof', '--cpu-prof-dir', dirname(file)] : [])]
    const handle = startProcess({ args: [...flags, server(name)], logFile: file, env: { ...common(namespace), PORT: String(servicePort), ...env } })
    await waitReady(`http://127.0.0.1:${servicePort}/readyz`, handle).catch(async (error) => {
      await handle.stop()
      throw error
    })
    return { handle, url: `http://127.0.0.1:${servicePort}` }
  }
  const receipt = (k) => ({
    method: 'POST', path: `/v1/stores/store-${k % 100}/receipts`, body: receiptBody(k),
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
  })
  const runs = []
  runs.push(await measure({ label: 'inventory POST receipts', contender: 'inventory', settings, status: 202, request: receipt, start: service('inventory', {}) }))
  runs.push(await measure({
    label: 'bare fastify + confirmed publish', contender: 'bare', settings, status: 202, request: receipt,
    async start(namespace) {
      const barePort = await port()
      const handle = startProcess({ args: [bareIngest], logFile: logFile('ingest-bare'), ipc: true, env: { AMQP_URL: settings.amqpUrl, BENCH_NAMESPACE: namespace, PORT: String(barePort) } })
      await handle.readyMessage()
      return { handle, url: `http://127.0.0.1:${barePort}` }
    },
  }))
  runs.push(await measure({
    label: 'subscriptions POST trigger (subscribe)', contender: 'subscribe', settings, status: 201, count: settings.subscribeCount, rate: settings.subscribeRate,
    request: (k) => ({
      method: 'POST', path: '/v1/triggers/goods-received', body: JSON.stringify({ callbackUrl: `${receiverUrl}/hook/${k}`, storeId: `store-${k % 1000}` }),
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
    }),
    start: service('subscriptions', {
      CALLBACK_ENCRYPTION_KEY: settings.encryptionKey, CALLBACK_ALLOW_PRIVATE: 'true', PUBLIC_BASE_URL: 'http://127.0.0.1',
      QUOTA_SUBSCRIPTIONS: '10000000', QUOTA_SUBSCRIPTIONS_PER_STORE: '100000',
    }),
  }))
  return runs
}
