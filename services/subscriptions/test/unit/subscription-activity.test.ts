import { describe, expect, it } from 'vitest'
import type { AttemptRecord } from '@arrivals/contracts'
import { subscriptionActivity } from '../../src/subscription-activity.js'

const now = Date.parse('2026-03-01T12:00:00.000Z')
const HOUR = 3_600_000

function attempt(agoMs: number, outcome: AttemptRecord['outcome'], status: number | null = 200): AttemptRecord {
  return { deliveryId: 'msg_1', eventId: 'e-1', attempt: 1, at: new Date(now - agoMs).toISOString(), outcome, status, durationMs: 42 }
}

describe('subscriptionActivity', () => {
  it('counts the last 24 hours hour by hour, oldest first, the newest attempt as the last one', () => {
    const attempts = [
      attempt(1_000, 'delivered'),
      attempt(30 * 60_000, 'retrying', 503),
      attempt(HOUR + 1, 'delivered'),
      attempt(23 * HOUR + 1, 'gave-up', 500),
      attempt(24 * HOUR, 'delivered'),
      attempt(-5_000, 'delivered'),
    ]
    const activity = subscriptionActivity(attempts, now)
    expect(activity.delivered).toHaveLength(24)
    expect(activity.delivered[23]).toBe(1)
    expect(activity.failed[23]).toBe(1)
    expect(activity.delivered[22]).toBe(1)
    expect(activity.failed[0]).toBe(1)
    // Exactly 24 h ago is outside the window; a clock a little ahead is not counted either.
    expect(activity.delivered.reduce((a, b) => a + b)).toBe(2)
    expect(activity.lastAttempt).toEqual({ at: attempts[0]!.at, outcome: 'delivered', status: 200, durationMs: 42 })
  })

  it('has no last attempt and zeros when nothing was attempted', () => {
    const activity = subscriptionActivity([], now)
    expect(activity).not.toHaveProperty('lastAttempt')
    expect(activity.failed).toEqual(new Array(24).fill(0))
  })
})
