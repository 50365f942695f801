import type { AttemptRecord } from '@arrivals/contracts'
import type { Attempts, SubscriptionRef } from '@arrivals/subscription-registry'
import type { AttemptRecorder, Log } from '../../ports.js'

interface AttemptLogOptions {
  attempts: Pick<Attempts, 'write'>
  log: Log
  /** How often buffered records are written (one batch, one pipelined round trip, for all of them). */
  flushMs?: number
  /** Beyond this many buffered records (Redis away), the oldest are dropped: history is best effort. */
  maxBuffered?: number
}

interface Buffered extends SubscriptionRef {
  attempts: AttemptRecord[]
}

/**
 * The attempt history of each subscription, written through the registry's `attempts.write`. Records
 * are buffered and written every ~100 ms as one batch, so the hot path never waits on Redis; the
 * successes of the same interval end their subscriptions' failure streaks in that batch.
 */
export class AttemptLog implements AttemptRecorder {
  private buffer = new Map<string, Buffered>()
  private buffered = 0
  private succeededSince = new Map<string, SubscriptionRef>()
  private readonly timer: NodeJS.Timeout
  private flushing: Promise<void> = Promise.resolve()

  constructor(private readonly options: AttemptLogOptions) {
    this.timer = setInterval(() => void this.flush(), options.flushMs ?? 100)
    this.timer.unref()
  }

  record(tenantId: string, subscriptionId: string, attempt: AttemptRecord): void {
    if (this.buffered >= (this.options.maxBuffered ?? 50_000)) return
    const entry = this.buffer.get(subscriptionId)
    if (entry) entry.attempts.push(attempt)
    else this.buffer.set(subscriptionId, { tenantId, subscriptionId, attempts: [attempt] })
    this.buffered += 1
  }

  /** The subscription answered: its consecutive-failure count starts again. */
  succeeded(tenantId: string, subscriptionId: string): void {
    this.succeededSince.set(subscriptionId, { tenantId, subscriptionId })
  }

  /** Writes what is buffered; concurrent calls run one after another. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write())
    return this.flushing
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }

  private async write(): Promise<void> {
    if (this.buffer.size === 0 && this.succeededSince.size === 0) return
    const buffer = this.buffer
    const succeeded = this.succeededSince
    this.buffer = new Map()
    this.buffered = 0
    this.succeededSince = new Map()
    try {
      await this.options.attempts.write({ records: [...buffer.values()], succeeded: [...succeeded.values()] })
    } catch (error) {
      const lost = [...buffer.values()].reduce((sum, entry) => sum + entry.attempts.length, 0)
      this.options.log.warn({ err: { message: (error as Error).message }, records: lost }, 'attempt records not written; keeping them for the next flush')
      for (const { tenantId, subscriptionId, attempts } of buffer.values()) for (const record of attempts) this.record(tenantId, subscriptionId, record)
      for (const [subscriptionId, ref] of succeeded) if (!this.succeededSince.has(subscriptionId)) this.succeededSince.set(subscriptionId, ref)
    }
  }
}
