// Every knob of the benchmark, read from the environment in this one place, with the defaults that keep
// a full run around five minutes on a 2-core machine.
import { randomBytes } from 'node:crypto'

function integer(name, fallback, { min = 1 } = {}) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`)
  return value
}

function list(name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  return raw.split(',').map((item) => item.trim()).filter(Boolean)
}

const knownScenarios = ['single', 'fanout', 'latency', 'slow', 'scale', 'ordered', 'churn', 'ingest']
const knownContenders = ['arrivals', 'arrivalsTasks', 'bullmq', 'amqp', 'amqp2']

export function readSettings() {
  const scenarios = list('BENCH_SCENARIOS', knownScenarios)
  const contenders = list('BENCH_CONTENDERS', knownContenders.filter((c) => c !== 'arrivalsTasks'))
  for (const s of scenarios) if (!knownScenarios.includes(s)) throw new Error(`BENCH_SCENARIOS: unknown scenario ${s}; known: ${knownScenarios.join(', ')}`)
  for (const c of contenders) if (!knownContenders.includes(c)) throw new Error(`BENCH_CONTENDERS: unknown contender ${c}; known: ${knownContenders.join(', ')}`)
  const scaleSubscriptions = list('BENCH_SCALE_SUBSCRIPTIONS', ['10', '100000']).map(Number)
  if (scaleSubscriptions.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('BENCH_SCALE_SUBSCRIPTIONS must be a comma list of positive integers')
  return {
    amqpUrl: process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672',
    redisUrl: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    scenarios,
    contenders,
    /** Events of the throughput run; each matches exactly one subscription (one webhook each). */
    events: integer('BENCH_EVENTS', 20_000),
    /** Endpoints (one subscription each) the single and latency runs spread their events over. */
    singleEndpoints: integer('BENCH_SINGLE_ENDPOINTS', 10),
    /** Fan-out: events × subscriptions, every subscription matching every event. */
    fanoutEvents: integer('BENCH_FANOUT_EVENTS', 2_000),
    fanout: integer('BENCH_FANOUT', 10),
    /** Same worker concurrency for all three; the AMQP prefetch equals it. */
    concurrency: integer('BENCH_CONCURRENCY', 64),
    /** Extra dispatcher settings, `NAME=value,NAME=value` (e.g. FIRST_ATTEMPT_INLINE=false). */
    dispatcherEnv: Object.fromEntries(list('BENCH_DISPATCHER_ENV', []).map((pair) => {
      const at = pair.indexOf('=')
      if (at < 1) throw new Error(`BENCH_DISPATCHER_ENV: "${pair}" is not NAME=value`)
      return [pair.slice(0, at), pair.slice(at + 1)]
    })),
    /** Extra node flags for each dispatcher process, comma-separated (e.g. `--heap-prof,--heap-prof-dir=/tmp`). */
    dispatcherNodeArgs: list('BENCH_NODE_ARGS', []),
    /** Write a V8 CPU profile of each dispatcher process into bench/results/logs/. */
    profile: process.env.BENCH_PROFILE === '1',
    /** Dispatcher processes for the Arrivals contender (1: the same one process as each reference). */
    dispatcherReplicas: integer('BENCH_DISPATCHER_REPLICAS', 1),
    /** Latency run: a steady publish rate (events/s) for this many seconds. */
    latencyRate: integer('BENCH_LATENCY_RATE', 1_000),
    latencySeconds: integer('BENCH_LATENCY_SECONDS', 10),
    /** Slow-endpoint run: endpoints, one of which answers after slowMs; steady rate for this long. */
    slowEndpoints: integer('BENCH_SLOW_ENDPOINTS', 10, { min: 2 }),
    slowMs: integer('BENCH_SLOW_MS', 2_000),
    slowRate: integer('BENCH_SLOW_RATE', 500),
    slowSeconds: integer('BENCH_SLOW_SECONDS', 10),
    /** Arrivals only: throughput with this many subscriptions in the tenant, each event matching one. */
    scaleSubscriptions,
    scaleEvents: integer('BENCH_SCALE_EVENTS', 10_000),
    /** Also 1,000,000 subscriptions over 100 tenants (minutes to seed, ~1.5 GB in Redis while it runs). */
    scaleMillion: process.env.BENCH_SCALE_MILLION === '1',
    /** Churn: a tenant of this many subscriptions churning this many changes a second, beside another tenant. */
    churnSubscriptions: integer('BENCH_CHURN_SUBSCRIPTIONS', 50_000),
    churnChanges: integer('BENCH_CHURN_CHANGES', 10),
    churnRate: integer('BENCH_CHURN_RATE', 500),
    churnSeconds: integer('BENCH_CHURN_SECONDS', 10),
    churnOtherEndpoints: integer('BENCH_CHURN_OTHER_ENDPOINTS', 10),
    /** The dispatcher's heap in the churn runs (--max-old-space-size), as the review that found the pile-up had it. */
    churnHeapMb: integer('BENCH_CHURN_HEAP_MB', 256),
    /** Ingest: requests in flight for receipts/s, then a steady rate for the 202's percentiles. */
    ingestConcurrency: integer('BENCH_INGEST_CONCURRENCY', 64),
    ingestCount: integer('BENCH_INGEST_COUNT', 10_000),
    ingestRate: integer('BENCH_INGEST_RATE', 1_000),
    ingestSeconds: integer('BENCH_INGEST_SECONDS', 10),
    /** The subscribe call: subscriptions made with the same concurrency, then a steady rate. */
    subscribeCount: integer('BENCH_SUBSCRIBE_COUNT', 2_000),
    subscribeRate: integer('BENCH_SUBSCRIBE_RATE', 100),
    /** Arrivals only: one subscription delivering in order per store, events spread over this many stores (fewer events than FLOW_RATE_LIMIT's 4500, which the bench does not measure). */
    orderedStores: integer('BENCH_ORDERED_STORES', 100),
    orderedEvents: integer('BENCH_ORDERED_EVENTS', 4_000),
    /** A run that makes no progress for this long is stopped and reported incomplete. */
    stallMs: integer('BENCH_STALL_MS', 30_000),
    /** The dispatcher's retry schedule in the bench (no failures are injected by default). */
    retrySchedule: process.env.BENCH_RETRY_SCHEDULE || '1s,5s',
    /** A fresh key per run: the bench seals its own subscriptions and hands the key to the dispatcher. */
    encryptionKey: randomBytes(32).toString('base64'),
    resultsFile: process.env.BENCH_RESULTS || new URL('../results/latest.json', import.meta.url).pathname,
  }
}
