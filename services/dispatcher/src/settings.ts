import { DEFAULT_CALLBACK_PORTS, parseCallbackPorts } from '@arrivals/callback-safety'
import {
  DEFAULT_FLOW_RATE_LIMIT, encryptionKeyRing, flowRateProblem, parseEncryptionKey, parseFlowRate, parsePreviousEncryptionKey, type FlowRate, type SecretBoxKeys,
} from '@arrivals/contracts'
import {
  boolean, commonSettingsTable, integer, optionalInteger, optionalText, parsed, readSettingsTable, setting, type Env, type RedisNode,
} from '@arrivals/service-kit'

/** Everything the dispatcher is configured with; tests and the benchmark build one directly. */
export interface DispatcherSettings {
  amqpUrl: string
  redisUrl: string
  /** REDIS_CLUSTER_NODES; absent or empty: one Redis at redisUrl. */
  redisClusterNodes?: readonly RedisNode[]
  namespace: string
  port: number
  host: string
  logLevel: string
  /** 32 bytes (and the previous key during a rotation); opens the sealed callback URLs and signing secrets. */
  encryptionKey: SecretBoxKeys
  /** Lift the SSRF address rules and allow http callbacks (development and tests only). */
  callbackAllowPrivate: boolean
  /** CALLBACK_ALLOWED_PORTS: the only ports a callback may use (unset: 443). */
  callbackAllowedPorts?: number[]
  /** Delay before each retry after the first attempt; its length is the number of retries. */
  retryScheduleMs: number[]
  deliveryTimeoutMs: number
  eventsPrefetch: number
  deliveryPrefetch: number
  deliveryConcurrency: number
  endpointConcurrency: number
  retryAfterMaxMs: number
  max4xxAttempts: number
  circuitFailureThreshold: number
  circuitOpenMs: number
  disableAfterFailures: number
  disableAfterMs: number
  drainTimeoutMs: number
  /** Make the first attempt in the fan-out stage for fast, healthy endpoints (saves the second broker hop). */
  firstAttemptInline: boolean
  /** An endpoint answering slower than this (recent average) gets its first attempts through tasks. */
  inlineMaxLatencyMs: number
  /** Most opened subscriptions (and as many per-store index entries) a replica keeps in memory. */
  subscriptionCacheSize: number
  /** FLOW_RATE_LIMIT: at most this many webhooks per subscription in any window (null: unlimited). */
  flowRateLimit: FlowRate | null
  /** This replica's name in connection names (HOSTNAME: the pod's name); server.ts falls back to the process id. */
  replicaName?: string | undefined
}

export const DEFAULT_RETRY_SCHEDULE = '5s,30s,2m,10m,1h,6h,24h'

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `250ms`, `5s`, `2m`, `1h`, `1d` → milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim())
  if (!match) return undefined
  const value = Number(match[1]) * units[match[2]!]!
  return Number.isSafeInteger(value) && value > 0 ? value : undefined
}

/** FLOW_RATE_LIMIT (`4500/5m` when unset); throws with a message that says what to write. */
export function parseFlowRateLimit(text: string | undefined): FlowRate | null {
  const rate = parseFlowRate(text ?? DEFAULT_FLOW_RATE_LIMIT)
  if (rate === undefined) throw new Error(flowRateProblem('FLOW_RATE_LIMIT', text ?? ''))
  return rate
}

/** `5s,30s,2m` → [5000, 30000, 120000]; throws with a message that says what to write. */
export function parseRetrySchedule(text: string): number[] {
  const entries = text.split(',').map((entry) => entry.trim()).filter(Boolean)
  if (entries.length === 0) throw new Error('RETRY_SCHEDULE must list at least one delay, e.g. "5s,30s,2m"')
  if (entries.length > 50) throw new Error(`RETRY_SCHEDULE lists ${entries.length} delays; at most 50 are allowed`)
  return entries.map((entry, index) => {
    const ms = parseDuration(entry)
    if (ms === undefined) {
      throw new Error(`RETRY_SCHEDULE entry ${index + 1} ("${entry}") must be a positive number with a unit ms, s, m, h or d, e.g. "5s,30s,2m,10m,1h,6h,24h"`)
    }
    return ms
  })
}

const callbackPorts = parsed((raw) => parseCallbackPorts(raw, (message) => { throw new Error(message) }), [...DEFAULT_CALLBACK_PORTS],
  DEFAULT_CALLBACK_PORTS.map((port) => `\`${port}\``).join(', '))
const duration = (fallback: number, min = 1) => integer(fallback, { min, max: 7 * 86_400_000 })
const count = (fallback: number, max = 10_000) => integer(fallback, { min: 1, max })

/** Every variable the dispatcher reads; the README's settings table is this table (a test compares them). */
export const dispatcherSettingsTable = {
  ...commonSettingsTable({ port: 3003, listensFor: '/healthz, /readyz and /metrics' }),
  encryptionKey: setting('CALLBACK_ENCRYPTION_KEY', parsed((raw) => parseEncryptionKey(raw), Buffer.alloc(0), '(required)'),
    'base64 of 32 random bytes, the subscriptions service\'s key; make one with `node -e "console.log(require(\'node:crypto\').randomBytes(32).toString(\'base64\'))"`', { secret: true }),
  previousEncryptionKey: setting('CALLBACK_ENCRYPTION_KEY_PREVIOUS', parsed(parsePreviousEncryptionKey, undefined, '(none)'),
    'during a key rotation, the key being replaced: values it sealed still open (equal to the current key: no rotation)', { secret: true }),
  callbackAllowPrivate: setting('CALLBACK_ALLOW_PRIVATE', boolean(false), 'allow http and loopback/private callbacks (development, tests)'),
  callbackAllowedPorts: setting('CALLBACK_ALLOWED_PORTS', callbackPorts,
    'comma list of the ports a callback may use; a stored callback on another port is refused before connecting (the same setting as subscriptions\')'),
  retryScheduleMs: setting('RETRY_SCHEDULE', parsed((raw) => parseRetrySchedule(raw ?? DEFAULT_RETRY_SCHEDULE), [] as number[], `\`${DEFAULT_RETRY_SCHEDULE}\``),
    'delay before each retry (units `ms s m h d`); its length is the number of retries'),
  deliveryTimeoutMs: setting('DELIVERY_TIMEOUT_MS', duration(10_000, 100), 'whole-attempt timeout (connect, headers, body)'),
  eventsPrefetch: setting('EVENTS_PREFETCH', count(64, 1000), 'unacknowledged events per replica (also bounds the inline first attempts)'),
  deliveryPrefetch: setting('DELIVERY_PREFETCH', count(64, 1000), 'unacknowledged delivery tasks per replica'),
  deliveryConcurrency: setting('DELIVERY_CONCURRENCY', count(64, 1000), 'webhook requests in flight per replica'),
  endpointConcurrency: setting('ENDPOINT_CONCURRENCY', optionalInteger({ min: 1, max: 1000 }, 'half of `DELIVERY_CONCURRENCY` (or of `DELIVERY_PREFETCH`, the smaller; must stay below the prefetch)'),
    'requests in flight per endpoint (scheme+host+path) per replica; beyond it tasks for a fast endpoint wait their turn, a slow one (slower than `INLINE_MAX_LATENCY_MS`) keeps a quarter as many waiting and the rest are deferred to the shortest tier'),
  retryAfterMaxMs: setting('RETRY_AFTER_MAX_MS', duration(3_600_000), 'a receiver\'s `Retry-After` is honoured up to this'),
  max4xxAttempts: setting('MAX_4XX_ATTEMPTS', count(3, 100), 'attempts in all for a 4xx other than 408/410/429 (and 3xx)'),
  circuitFailureThreshold: setting('CIRCUIT_FAILURE_THRESHOLD', count(5),
    'consecutive endpoint failures that open its circuit (only if it had no success within `CIRCUIT_OPEN_MS`)'),
  circuitOpenMs: setting('CIRCUIT_OPEN_MS', duration(30_000), 'how long an open circuit holds new deliveries back'),
  disableAfterFailures: setting('DISABLE_AFTER_FAILURES', count(20, 1_000_000), 'consecutive failed attempts that disable a subscription…'),
  disableAfterMs: setting('DISABLE_AFTER_MS', duration(86_400_000, 0), '…when they also span at least this long'),
  drainTimeoutMs: setting('DRAIN_TIMEOUT_MS', duration(10_000, 0), 'on SIGTERM, how long in-flight deliveries may finish before they are handed back'),
  firstAttemptInline: setting('FIRST_ATTEMPT_INLINE', boolean(true),
    'the fan-out stage makes the first attempt itself for a fast, healthy endpoint, waiting for its send slot (no second broker hop); otherwise, and for every retry, a task'),
  inlineMaxLatencyMs: setting('INLINE_MAX_LATENCY_MS', duration(250),
    'an endpoint whose recent answers (or a request in flight) take longer gets its first attempts through tasks'),
  subscriptionCacheSize: setting('SUBSCRIPTION_CACHE_SIZE', integer(10_000, { min: 100, max: 1_000_000 }),
    'most subscriptions a replica keeps opened in memory (secrets opened once while kept), and as many per-store index entries; the least recently used go first, so memory is bounded by this, not by how many subscriptions exist'),
  flowRateLimit: setting('FLOW_RATE_LIMIT', parsed(parseFlowRateLimit, null as FlowRate | null, `\`${DEFAULT_FLOW_RATE_LIMIT}\``),
    'at most this many webhooks per subscription in any window of this length, across every replica (`<count>/<duration>`, units `ms s m h`, or `unlimited`); Power Automate\'s per-flow limit on the Low profile. Over it deliveries wait in the retry tiers without spending an attempt; an operator may override it per subscription'),
  replicaName: setting('HOSTNAME', optionalText('(the process id)'), 'this replica\'s name in its broker and Redis connection names (Kubernetes sets it to the pod\'s)'),
}

/** The only place the dispatcher reads the environment; every problem is reported at once. */
export function readSettings(env: Env): DispatcherSettings {
  return readSettingsTable(dispatcherSettingsTable, env, ({ previousEncryptionKey, ...values }, problem) => {
    // Half of all sends by default: one endpoint can go fast, but never take every slot.
    const endpointConcurrency = values.endpointConcurrency ?? Math.max(1, Math.floor(Math.min(values.deliveryConcurrency, values.deliveryPrefetch) / 2))
    if (endpointConcurrency >= values.deliveryPrefetch && values.deliveryPrefetch > 1) {
      problem(`ENDPOINT_CONCURRENCY (${endpointConcurrency}) must be below DELIVERY_PREFETCH (${values.deliveryPrefetch}), or one slow endpoint can hold every delivery slot; leave it unset for half`)
    }
    return { ...values, encryptionKey: encryptionKeyRing(values.encryptionKey, previousEncryptionKey), endpointConcurrency }
  })
}
