import { parseCallbackPorts } from '@arrivals/callback-safety'
import { parseEncryptionKey, type SecretBoxKeys } from '@arrivals/contracts'
import { commonSettings, type Env } from '@arrivals/service-kit'

/** Everything the dispatcher is configured with; tests and the benchmark build one directly. */
export interface DispatcherSettings {
  amqpUrl: string
  redisUrl: string
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

/** Reads and validates the environment; every problem is reported at once. */
export function readSettings(env: Env): DispatcherSettings {
  const { read, common } = commonSettings(env, { port: 3003 })
  let encryptionKey: SecretBoxKeys = Buffer.alloc(0)
  try {
    encryptionKey = parseEncryptionKey(read.optional('CALLBACK_ENCRYPTION_KEY'), read.optional('CALLBACK_ENCRYPTION_KEY_PREVIOUS'))
  } catch (error) {
    read.problem((error as Error).message)
  }
  let retryScheduleMs: number[] = []
  try {
    retryScheduleMs = parseRetrySchedule(read.string('RETRY_SCHEDULE', DEFAULT_RETRY_SCHEDULE))
  } catch (error) {
    read.problem((error as Error).message)
  }
  const duration = (name: string, fallback: number, min = 1) => read.integer(name, fallback, { min, max: 7 * 86_400_000 })
  const count = (name: string, fallback: number, max = 10_000) => read.integer(name, fallback, { min: 1, max })

  const deliveryConcurrency = count('DELIVERY_CONCURRENCY', 64, 1000)
  const deliveryPrefetch = count('DELIVERY_PREFETCH', 64, 1000)
  const settings: DispatcherSettings = {
    ...common,
    encryptionKey,
    callbackAllowPrivate: read.boolean('CALLBACK_ALLOW_PRIVATE', false),
    callbackAllowedPorts: parseCallbackPorts(read.optional('CALLBACK_ALLOWED_PORTS'), read.problem),
    retryScheduleMs,
    deliveryTimeoutMs: duration('DELIVERY_TIMEOUT_MS', 10_000, 100),
    eventsPrefetch: count('EVENTS_PREFETCH', 64, 1000),
    deliveryPrefetch,
    deliveryConcurrency,
    // Half of all sends by default: one endpoint can go fast, but never take every slot.
    endpointConcurrency: count('ENDPOINT_CONCURRENCY', Math.max(1, Math.floor(Math.min(deliveryConcurrency, deliveryPrefetch) / 2)), 1000),
    retryAfterMaxMs: duration('RETRY_AFTER_MAX_MS', 3_600_000),
    max4xxAttempts: count('MAX_4XX_ATTEMPTS', 3, 100),
    circuitFailureThreshold: count('CIRCUIT_FAILURE_THRESHOLD', 5),
    circuitOpenMs: duration('CIRCUIT_OPEN_MS', 30_000),
    disableAfterFailures: count('DISABLE_AFTER_FAILURES', 20, 1_000_000),
    disableAfterMs: duration('DISABLE_AFTER_MS', 86_400_000, 0),
    drainTimeoutMs: duration('DRAIN_TIMEOUT_MS', 10_000, 0),
    firstAttemptInline: read.boolean('FIRST_ATTEMPT_INLINE', true),
    inlineMaxLatencyMs: duration('INLINE_MAX_LATENCY_MS', 250),
  }
  if (settings.endpointConcurrency >= settings.deliveryPrefetch && settings.deliveryPrefetch > 1) {
    read.problem(`ENDPOINT_CONCURRENCY (${settings.endpointConcurrency}) must be below DELIVERY_PREFETCH (${settings.deliveryPrefetch}), or one slow endpoint can hold every delivery slot; leave it unset for half`)
  }
  read.done()
  return settings
}

