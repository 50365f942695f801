import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decide, jittered, JITTER, parseRetryAfter, retryTiers, tierFor, type RetryPolicy } from '../../src/policies/retry-policy.js'
import { parseDuration, parseRetrySchedule, readSettings } from '../../src/settings.js'
import { CircuitBreakers } from '../../src/policies/circuit-breaker.js'

const policy: RetryPolicy = { scheduleMs: parseRetrySchedule('5s,30s,2m,10m,1h,6h,24h'), retryAfterMaxMs: 3_600_000, max4xxAttempts: 3 }
const random = fc.double({ min: 0, max: 1, noNaN: true })
const retryable = fc.oneof(
  fc.constantFrom(408, 429, 500, 502, 503, 504).map((status) => ({ kind: 'response' as const, status })),
  fc.constant({ kind: 'timeout' as const, error: 'timed out after 10000 ms' }),
  fc.constant({ kind: 'network' as const, error: 'network error: ECONNREFUSED' }),
)

describe('retry policy', () => {
  it('jitter stays within 25% of the schedule entry and never lengthens it', () => {
    fc.assert(fc.property(fc.integer({ min: 4, max: 7 * 86_400_000 }), random, (entry, r) => {
      const delay = jittered(entry, () => r)
      expect(delay).toBeLessThanOrEqual(entry)
      expect(delay).toBeGreaterThanOrEqual(Math.floor(entry * (1 - JITTER)))
    }))
  })

  it('retries 408, 429, 5xx, timeouts and network errors on the schedule, then gives up', () => {
    fc.assert(fc.property(retryable, fc.integer({ min: 1, max: 8 }), random, (result, attempt, r) => {
      const decision = decide(policy, attempt, result, () => r)
      if (attempt > policy.scheduleMs.length) {
        expect(decision.outcome).toBe('gave-up')
        return
      }
      expect(decision.outcome).toBe('retry')
      const entry = policy.scheduleMs[attempt - 1]!
      if (decision.outcome === 'retry') {
        expect(decision.delayMs).toBeLessThanOrEqual(entry)
        expect(decision.delayMs).toBeGreaterThanOrEqual(entry * 0.75 - 1)
      }
    }))
  })

  it('never retries before Retry-After, capped by RETRY_AFTER_MAX_MS', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 * 3_600_000 }), fc.integer({ min: 1, max: 7 }), fc.constantFrom(429, 503), random, (retryAfterMs, attempt, status, r) => {
      const decision = decide(policy, attempt, { kind: 'response', status, retryAfterMs }, () => r)
      expect(decision.outcome).toBe('retry')
      if (decision.outcome !== 'retry') return
      expect(decision.delayMs).toBeGreaterThanOrEqual(Math.min(retryAfterMs, policy.retryAfterMaxMs))
      expect(decision.delayMs).toBeLessThanOrEqual(Math.max(policy.scheduleMs[attempt - 1]!, policy.retryAfterMaxMs))
    }))
  })

  it('delivers on 2xx, removes on 410, gives other 4xx and 3xx a few tries, refuses SSRF at once', () => {
    expect(decide(policy, 1, { kind: 'response', status: 204 })).toEqual({ outcome: 'delivered' })
    expect(decide(policy, 1, { kind: 'response', status: 410 }).outcome).toBe('gone')
    for (const status of [301, 400, 401, 404, 422]) {
      expect(decide(policy, 1, { kind: 'response', status }).outcome).toBe('retry')
      expect(decide(policy, 2, { kind: 'response', status }).outcome).toBe('retry')
      expect(decide(policy, 3, { kind: 'response', status }).outcome).toBe('gave-up')
    }
    expect(decide(policy, 1, { kind: 'refused', error: 'refusing to connect' }).outcome).toBe('gave-up')
  })

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('120')).toBe(120_000)
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000)
    expect(parseRetryAfter('soon')).toBeUndefined()
    expect(parseRetryAfter(undefined)).toBeUndefined()
  })

  it('picks the smallest tier at least as long as the wait, else the longest', () => {
    const tiers = retryTiers([5000, 30_000, 5000, 120_000])
    expect(tiers).toEqual([5000, 30_000, 120_000])
    fc.assert(fc.property(fc.integer({ min: 1, max: 10_000_000 }), (wait) => {
      const tier = tierFor(tiers, wait)
      if (wait <= 120_000) {
        expect(tier).toBeGreaterThanOrEqual(wait)
        expect(tiers.filter((t) => t >= wait)[0]).toBe(tier)
      } else expect(tier).toBe(120_000)
    }))
  })
})

describe('circuit breaker', () => {
  const endpoint = 'https://flows.example.com/hook'

  it('opens on consecutive failures of an endpoint with no recent success; retries still go through', () => {
    const breakers = new CircuitBreakers({ failureThreshold: 3, openMs: 1000 })
    for (let n = 0; n < 3; n++) {
      expect(breakers.check(endpoint, 1, 0).allowed).toBe(true)
      breakers.record(endpoint, true, 0)
    }
    expect(breakers.check(endpoint, 1, 500)).toEqual({ allowed: false, retryInMs: 500 })
    expect(breakers.openCount(500)).toBe(1)
    expect(breakers.isClosed(endpoint, 500)).toBe(false)
    // A retry is the scheduled attempt of a failing delivery: never held back, and it probes.
    expect(breakers.check(endpoint, 2, 500)).toEqual({ allowed: true })
    breakers.record(endpoint, false, 600)
    expect(breakers.check(endpoint, 1, 600)).toEqual({ allowed: true })
    expect(breakers.openCount(600)).toBe(0)
    expect(breakers.isClosed(endpoint, 600)).toBe(true)
  })

  it('lets new deliveries try again after the open period and reopens only after as many failures again', () => {
    const breakers = new CircuitBreakers({ failureThreshold: 2, openMs: 1000 })
    breakers.record(endpoint, true, 0)
    breakers.record(endpoint, true, 0)
    expect(breakers.check(endpoint, 1, 999).allowed).toBe(false)
    expect(breakers.check(endpoint, 1, 1000).allowed).toBe(true)
    breakers.record(endpoint, true, 1000)
    expect(breakers.check(endpoint, 1, 1001).allowed).toBe(true)
    breakers.record(endpoint, true, 1001)
    expect(breakers.check(endpoint, 1, 1002).allowed).toBe(false)
  })

  it('stays closed for a flaky endpoint that still answers some requests', () => {
    const breakers = new CircuitBreakers({ failureThreshold: 3, openMs: 1000 })
    breakers.record(endpoint, false, 0)
    for (let n = 1; n <= 10; n++) breakers.record(endpoint, true, n * 10)
    expect(breakers.check(endpoint, 1, 200).allowed).toBe(true)
  })

  it('forgets the least recently used endpoints beyond its bound', () => {
    const breakers = new CircuitBreakers({ failureThreshold: 1, openMs: 1000, maxEndpoints: 2 })
    for (const name of ['a', 'b', 'c']) breakers.record(name, true, 0)
    expect(breakers.openCount(1)).toBe(2)
    expect(breakers.check('a', 1, 1).allowed).toBe(true)
  })

  it('never holds back a single failing delivery: its attempts are all retries after the first', () => {
    const breakers = new CircuitBreakers({ failureThreshold: 5, openMs: 30_000 })
    let now = 0
    for (let attempt = 1; attempt <= policy.scheduleMs.length + 1; attempt++) {
      expect(breakers.check('e', attempt, now).allowed).toBe(true)
      breakers.record('e', true, now)
      now += policy.scheduleMs[attempt - 1] ?? 0
    }
  })
})

describe('settings', () => {
  const key = Buffer.alloc(32, 1).toString('base64')

  it('reads durations with units and the default schedule', () => {
    expect(parseDuration('250ms')).toBe(250)
    expect(parseDuration('2m')).toBe(120_000)
    expect(parseDuration('1d')).toBe(86_400_000)
    expect(parseDuration('5')).toBeUndefined()
    expect(readSettings({ CALLBACK_ENCRYPTION_KEY: key }).retryScheduleMs).toEqual([5000, 30_000, 120_000, 600_000, 3_600_000, 21_600_000, 86_400_000])
  })

  it('keeps one endpoint from taking every delivery slot', () => {
    expect(readSettings({ CALLBACK_ENCRYPTION_KEY: key, DELIVERY_PREFETCH: '20', DELIVERY_CONCURRENCY: '64' }).endpointConcurrency).toBe(10)
    expect(() => readSettings({ CALLBACK_ENCRYPTION_KEY: key, DELIVERY_PREFETCH: '20', ENDPOINT_CONCURRENCY: '20' })).toThrow(/ENDPOINT_CONCURRENCY \(20\) must be below DELIVERY_PREFETCH/)
  })

  it('says what to fix, all at once', () => {
    expect(() => readSettings({ RETRY_SCHEDULE: '5s,soon', DELIVERY_TIMEOUT_MS: 'x' })).toThrow(
      /CALLBACK_ENCRYPTION_KEY is not set.*randomBytes\(32\)[\s\S]*RETRY_SCHEDULE entry 2 \("soon"\)[\s\S]*DELIVERY_TIMEOUT_MS must be an integer/,
    )
  })
})
