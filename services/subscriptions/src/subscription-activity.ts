import type { AttemptRecord } from '@arrivals/contracts'
import type { SubscriptionActivity } from './schemas/subscriptions.js'

const HOUR_MS = 3_600_000
export const ACTIVITY_HOURS = 24

/**
 * What an operator scans a list for: the last attempt and the attempts of the last 24 hours, hour
 * by hour (oldest first, the last bucket ends now). Built from the attempts the dispatcher keeps
 * (the newest 100 per subscription), so a busier subscription's counts are a lower bound.
 */
export function subscriptionActivity(attempts: readonly AttemptRecord[], now: number): SubscriptionActivity {
  const delivered = new Array<number>(ACTIVITY_HOURS).fill(0)
  const failed = new Array<number>(ACTIVITY_HOURS).fill(0)
  for (const attempt of attempts) {
    const age = now - Date.parse(attempt.at)
    if (!(age >= 0 && age < ACTIVITY_HOURS * HOUR_MS)) continue
    const bucket = ACTIVITY_HOURS - 1 - Math.floor(age / HOUR_MS)
    if (attempt.outcome === 'delivered') delivered[bucket]!++
    else failed[bucket]!++
  }
  const last = attempts[0]
  return {
    ...(last ? { lastAttempt: { at: last.at, outcome: last.outcome, status: last.status, durationMs: last.durationMs } } : {}),
    delivered,
    failed,
  }
}
