// pnpm bench: one local receiver, three contenders, the same workloads, one machine, one run.
// Results: a table on stdout, bench/results/latest.json and bench/results/latest.md.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { contenders, dispatcherAvailable, freePort } from './lib/contenders.mjs'
import { ingestRuns } from './lib/ingest.mjs'
import { dispatcherRevision, machineFacts, rabbitmqPid, serverCpu } from './lib/machine.mjs'
import { cleanupNamespace, newNamespace } from './lib/namespace.mjs'
import { startReceiverFarm } from './lib/receiver.mjs'
import { renderMarkdown, renderTable } from './lib/report.mjs'
import { scenarioRuns } from './lib/scenarios.mjs'
import { startChurn } from './lib/workload.mjs'
import { readSettings } from './lib/settings.mjs'
import { percentiles, throughput } from './lib/stats.mjs'

const settings = readSettings()
const logsDir = new URL('./results/logs/', import.meta.url).pathname
mkdirSync(logsDir, { recursive: true })
const retryDelaysMs = settings.retrySchedule.split(',').map(parseDelay)

/** Publishes every event with at most `window` unconfirmed at a time. */
async function publishAll(publisher, receiver, plan, runId) {
  const window = 1_000
  const inflight = new Set()
  for (let k = 0; k < plan.events; k += 1) {
    const event = plan.eventFor(runId, k)
    receiver.published(event.id)
    const done = publisher.publish(event).finally(() => inflight.delete(done))
    inflight.add(done)
    if (inflight.size >= window) await Promise.race(inflight)
  }
  await Promise.all(inflight)
}

/** Publishes at a steady rate (events/s), not waiting for one confirm before the next publish. */
async function publishPaced(publisher, receiver, plan, runId) {
  const start = performance.now()
  const inflight = new Set()
  let sent = 0
  while (sent < plan.events) {
    const due = Math.min(plan.events, Math.floor(((performance.now() - start) * plan.rate) / 1000) + 1)
    for (; sent < due; sent += 1) {
      const event = plan.eventFor(runId, sent)
      receiver.published(event.id)
      const done = publisher.publish(event).finally(() => inflight.delete(done))
      inflight.add(done)
    }
    await sleep(1)
  }
  await Promise.all(inflight)
}

async function runOne(plan, contenderName, receiver) {
  const contender = contenders[contenderName]
  const namespace = newNamespace()
  const runId = namespace.slice('bench-'.length)
  const tag = `${plan.name}${plan.subscriptionCount ? `-${plan.subscriptionCount}` : ''}${plan.tenants > 1 ? `x${plan.tenants}` : ''}-${contenderName}`
  const logFile = join(logsDir, `${tag}.log`)
  const subscriptionsFile = join(tmpdir(), `${namespace}-subscriptions.json`)
  const result = { scenario: plan.name, title: plan.title, contender: contenderName, label: contender.label, namespace, expected: plan.expected }
  if (plan.subscriptionCount) result.subscriptions = plan.subscriptionCount
  if (plan.tenants > 1) result.tenants = plan.tenants
  process.stdout.write(`· ${tag} (${namespace}) … `)

  receiver.reset(plan.behaviours)
  let publisher
  let handle
  const started = performance.now()
  try {
    publisher = await contender.prepare({ namespace, settings, subscriptions: plan.subscriptions, subscriptionsFile })
    // A bulk import leaves the per-store counts to be rebuilt by the first create (one pass over the
    // tenant's records, once): done here, before measuring, in the quiet and the churning run alike.
    if (plan.churnTenant) await startChurn({ redis, namespace, encryptionKey: settings.encryptionKey, tenantId: plan.churnTenant, changesPerSecond: 1000, url: receiver.urls[0] }).stopAfter(2)
    const options = { namespace, settings, subscriptionsFile, logFile, nodeArgs: plan.nodeArgs }
    let publishStart
    let serversBefore
    if (plan.mode === 'preload') {
      await publishAll(publisher, receiver, plan, runId)
      serversBefore = await serverCpu(redis, brokerPid)
      handle = await contender.start(options)
    } else {
      serversBefore = await serverCpu(redis, brokerPid)
      handle = await contender.start(options)
      const churn = plan.churn && startChurn({ redis, namespace, encryptionKey: settings.encryptionKey, ...plan.churn })
      publishStart = performance.now()
      try {
        await publishPaced(publisher, receiver, plan, runId)
      } finally {
        if (churn) result.churnChanges = await churn.stop()
      }
    }
    const healthy = (run) => run.byEndpoint.reduce((sum, e, i) => (i === plan.slowEndpoint ? sum : sum + e.received), 0)
    await receiver.waitUntil(
      plan.expectedHealthy === undefined ? (run) => run.received >= plan.expected : (run) => healthy(run) >= plan.expectedHealthy,
      settings.stallMs,
    ).catch((error) => {
      result.error = `incomplete: ${error.message}`
    })
    const { run } = receiver
    result.received = run.received
    result.duplicates = run.duplicates
    result.peakRssMb = handle.peakRssMb()
    const serversAfter = await serverCpu(redis, brokerPid)
    const perWebhook = (seconds) => (seconds === null || !run.received ? null : Math.round((seconds * 1000 * 1000) / run.received) / 1000)
    result.cpuMsPerWebhook = {
      contender: perWebhook(handle.cpuSeconds()),
      rabbitmq: perWebhook(serversAfter.rabbitmq === null ? null : serversAfter.rabbitmq - serversBefore.rabbitmq),
      redis: perWebhook(serversAfter.redis - serversBefore.redis),
    }
    if (plan.mode === 'preload') {
      result.webhooksPerSecond = throughput(run)
      // Cold start: from spawning the process (beside the seeded subscriptions and the full queue) to its first webhook.
      if (run.firstAt !== undefined) result.firstWebhookMs = Math.round(run.firstAt - handle.startedAt)
    } else if (plan.expectedHealthy === undefined) {
      result.latencyMs = percentiles(run.byEndpoint.flatMap((e) => e.latencies))
    } else {
      const healthyEndpoints = run.byEndpoint.filter((_, i) => i !== plan.slowEndpoint)
      result.healthyReceived = healthy(run)
      result.healthyExpected = plan.expectedHealthy
      result.healthyLatencyMs = percentiles(healthyEndpoints.flatMap((e) => e.latencies))
      const lastHealthy = Math.max(...healthyEndpoints.map((e) => e.lastAt ?? 0))
      result.healthyDoneAfterS = Math.round((lastHealthy - publishStart) / 100) / 10
      result.publishSeconds = settings.slowSeconds
      result.slowReceived = run.byEndpoint[plan.slowEndpoint].received
    }
  } catch (error) {
    result.error = error.message
  } finally {
    if (handle) {
      result.peakRssMb ??= handle.peakRssMb()
      const { code, signal } = await handle.stop()
      result.exit = signal ?? code
    }
    await publisher?.close().catch(() => {})
    await cleanupNamespace(namespace, { amqpUrl: settings.amqpUrl, redisUrl: settings.redisUrl, retryDelaysMs }).catch((error) => {
      result.cleanupError = error.message
    })
    rmSync(subscriptionsFile, { force: true })
  }
  result.seconds = Math.round((performance.now() - started) / 100) / 10
  // Other work on the machine shows here: a 1-minute load above the core count means contention.
  result.loadAverage = Math.round(loadavg()[0] * 10) / 10
  console.log(result.error ? `FAILED: ${result.error}` : `${result.seconds} s`)
  return result
}

function parseDelay(entry) {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(entry.trim())
  if (!match) throw new Error(`BENCH_RETRY_SCHEDULE: cannot read ${entry}`)
  return Number(match[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2]]
}

const brokerPid = rabbitmqPid()
const redis = new Redis(settings.redisUrl)
const receiver = await startReceiverFarm(Math.max(settings.fanout, settings.slowEndpoints, settings.singleEndpoints, settings.churnOtherEndpoints + 1))
const results = {
  date: new Date().toISOString(),
  machine: await machineFacts(settings),
  dispatcher: dispatcherRevision(),
  settings: Object.fromEntries(Object.entries(settings).filter(([key]) => !['encryptionKey', 'resultsFile', 'amqpUrl', 'redisUrl'].includes(key))),
  runs: [],
}
const save = () => writeFileSync(settings.resultsFile, `${JSON.stringify(results, null, 2)}\n`)
console.log(`Arrivals bench on ${results.machine.cpus} cores, Node ${results.machine.node}, RabbitMQ ${results.machine.rabbitmq}, Redis ${results.machine.redis}`)
try {
  for (const scenario of settings.scenarios) {
    if (scenario === 'ingest') {
      results.runs.push(...await ingestRuns(settings, { port: freePort, logFile: (tag) => join(logsDir, `${tag}.log`), receiverUrl: receiver.urls[0] }))
      save()
      continue
    }
    for (const plan of scenarioRuns(scenario, settings, receiver.urls)) {
      for (const contenderName of settings.contenders) {
        if (plan.arrivalsOnly && contenderName !== 'arrivals') continue
        if (contenders[contenderName].scenarios && !contenders[contenderName].scenarios.includes(plan.name)) continue
        if (contenderName.startsWith('arrivals') && !dispatcherAvailable()) {
          results.runs.push({ scenario: plan.name, title: plan.title, contender: contenderName, label: contenders.arrivals.label, subscriptions: plan.subscriptionCount, notMeasured: 'dispatcher not ready (services/dispatcher/dist/server.js is missing)' })
          continue
        }
        results.runs.push(await runOne(plan, contenderName, receiver))
        save()
      }
    }
  }
} finally {
  await receiver.close()
  redis.disconnect()
  save()
}
console.log(`\n${renderTable(results)}`)
writeFileSync(settings.resultsFile.replace(/\.json$/, '.md'), renderMarkdown(results))
console.log(`\nwrote ${settings.resultsFile} and ${settings.resultsFile.replace(/\.json$/, '.md')}`)
