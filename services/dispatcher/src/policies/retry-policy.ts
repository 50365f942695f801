/** What one webhook POST came back with. */
export type SendResult =
  | { kind: 'response'; status: number; retryAfterMs?: number }
  | { kind: 'timeout'; error: string }
  | { kind: 'network'; error: string }
  /** The callback failed the SSRF rules at connect time: nothing was sent. */
  | { kind: 'refused'; error: string }

/**
 * The retry policy's configuration (its rules are the pure functions below, unit-tested without a
 * broker). Delivery retries (seconds to hours, through TTL queues) are separate from infrastructure
 * retries (milliseconds, in process, while Redis or RabbitMQ is briefly away).
 */
export interface RetryPolicy {
  /** Delay before each retry; its length is the number of retries after the first attempt. */
  scheduleMs: readonly number[]
  /** A receiver's Retry-After is honoured up to this long. */
  retryAfterMaxMs: number
  /** A 4xx other than 408/410/429 (or a 3xx) is tried this many times in all, then given up. */
  max4xxAttempts: number
}

/** The policy's ruling on a send result: what follows the attempt (its `outcome` is also the delivery's). */
export type Decision =
  | { outcome: 'delivered' }
  | { outcome: 'gone'; reason: string }
  | { outcome: 'retry'; delayMs: number; reason: string }
  | { outcome: 'gave-up'; reason: string }

/** Largest share of a schedule entry that jitter takes off (DESIGN: at most ±25%). */
export const JITTER = 0.25

/**
 * A schedule entry with jitter, in [entry × 0.75, entry]. Jitter only ever shortens the wait, so the
 * delay never exceeds its tier queue's TTL and the tier's head-of-line effect stays within the same
 * 25% band; it spreads a burst of failures so they do not return together.
 */
export function jittered(entryMs: number, random: () => number = Math.random): number {
  const r = Math.min(Math.max(random(), 0), 1)
  return Math.max(1, Math.round(entryMs * (1 - JITTER * r)))
}

/** `Retry-After` as seconds or an HTTP date → milliseconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined
  const text = header.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const at = Date.parse(text)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, at - now)
}

/** A human-readable description of a failed attempt, for attempt records and dead letters. */
function describe(result: SendResult): string {
  if (result.kind === 'response') return `HTTP ${result.status}`
  return result.error
}

/** Whether the endpoint itself is failing (counts toward its circuit breaker and toward disabling). */
export function isEndpointFailure(result: SendResult): boolean {
  if (result.kind === 'timeout' || result.kind === 'network') return true
  if (result.kind === 'refused') return false
  return result.status >= 500 || result.status === 408 || result.status === 429
}

/** Decides what follows attempt number `attempt` (1 = the first) given its result. */
export function decide(policy: RetryPolicy, attempt: number, result: SendResult, random: () => number = Math.random): Decision {
  if (result.kind === 'response') {
    if (result.status >= 200 && result.status < 300) return { outcome: 'delivered' }
    if (result.status === 410) return { outcome: 'gone', reason: 'the receiver answered 410 Gone: the flow no longer exists' }
  }
  const what = describe(result)
  if (result.kind === 'refused') return { outcome: 'gave-up', reason: `callback refused at connect time: ${what}` }
  const retriesLeft = attempt <= policy.scheduleMs.length
  if (!retriesLeft) return { outcome: 'gave-up', reason: `retries exhausted after ${attempt} attempts; last: ${what}` }
  if (!isEndpointFailure(result) && attempt >= policy.max4xxAttempts) {
    return { outcome: 'gave-up', reason: `the receiver kept refusing the delivery (${what}) after ${attempt} attempts` }
  }
  let delayMs = jittered(policy.scheduleMs[attempt - 1]!, random)
  if (result.kind === 'response' && result.retryAfterMs !== undefined) {
    delayMs = Math.max(delayMs, Math.min(result.retryAfterMs, policy.retryAfterMaxMs))
  }
  return { outcome: 'retry', delayMs, reason: what }
}

/** The distinct retry tiers (TTL queues) a schedule needs, ascending. */
export function retryTiers(scheduleMs: readonly number[]): number[] {
  return [...new Set(scheduleMs)].sort((a, b) => a - b)
}

/**
 * The tier queue a wait of `delayMs` goes through: the smallest tier at least that long (the
 * message's own expiration shortens it to the wanted delay), else the longest tier; a wait longer
 * than every tier is chained: the task comes back early and is sent round again for the rest.
 */
export function tierFor(tiers: readonly number[], delayMs: number): number {
  if (tiers.length === 0) throw new Error('no retry tiers declared')
  return tiers.find((tier) => tier >= delayMs) ?? tiers[tiers.length - 1]!
}
