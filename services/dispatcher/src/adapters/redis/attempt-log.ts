import { historyLimits, type AttemptRecord, type RedisKeys } from '@arrivals/contracts'
import type { Redis } from 'ioredis'
import type { AttemptRecorder, Log } from '../../ports.js'

/** How long a subscription's attempt history outlives its last attempt. */
const ATTEMPTS_TTL_MS = 30 * 86_400_000

interface AttemptLogOptions {
  redis: Redis
  keys: RedisKeys
  log: Log
  /** How often buffered records are written (one pipelined round trip for all of them). */
  flushMs?: number
  /** Beyond this many buffered records (Redis away), the oldest are dropped: history is best effort. */
  maxBuffered?: number
}

/**
 * The attempt history of each subscription: `LPUSH attempts(s)` + `LTRIM` to the last
 * `historyLimits.attemptsPerSubscription`, newest first. Records are buffered and written every
 * ~100 ms in one pipeline, so the hot path never waits on Redis. A success also clears the
 * subscription's consecutive-failure count in the same pipeline.
 */
export class AttemptLog implements AttemptRecorder {
  private buffer = new Map<string, AttemptRecord[]>()
  private buffered = 0
  private clearFailures = new Set<string>()
  private readonly timer: NodeJS.Timeout
  private flushing: Promise<void> = Promise.resolve()

  constructor(private readonly options: AttemptLogOptions) {
    this.timer = setInterval(() => void this.flush(), options.flushMs ?? 100)
    this.timer.unref()
  }

  record(subscriptionId: string, attempt: AttemptRecord): void {
    if (this.buffered >= (this.options.maxBuffered ?? 50_000)) return
    const list = this.buffer.get(subscriptionId)
    if (list) list.push(attempt)
    else this.buffer.set(subscriptionId, [attempt])
    this.buffered += 1
  }

  /** The subscription answered: its consecutive-failure count starts again. */
  succeeded(subscriptionId: string): void {
    this.clearFailures.add(subscriptionId)
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
    if (this.buffer.size === 0 && this.clearFailures.size === 0) return
    const buffer = this.buffer
    const clear = this.clearFailures
    this.buffer = new Map()
    this.buffered = 0
    this.clearFailures = new Set()
    const { redis, keys } = this.options
    const pipeline = redis.pipeline()
    for (const [subscriptionId, records] of buffer) {
      const key = keys.attempts(subscriptionId)
      // LPUSH puts its last argument first: oldest first in, newest at the head.
      pipeline.lpush(key, ...records.map((record) => JSON.stringify(record)))
      pipeline.ltrim(key, 0, historyLimits.attemptsPerSubscription - 1)
      // A history nobody adds to expires: a late record for a deleted subscription does not stay forever.
      pipeline.pexpire(key, ATTEMPTS_TTL_MS)
    }
    for (const subscriptionId of clear) pipeline.del(keys.failures(subscriptionId))
    try {
      const results = await pipeline.exec()
      const failed = results?.find(([error]) => error)
      if (failed) throw failed[0]
    } catch (error) {
      const lost = [...buffer.values()].reduce((sum, records) => sum + records.length, 0)
      this.options.log.warn({ err: { message: (error as Error).message }, records: lost }, 'attempt records not written; keeping them for the next flush')
      for (const [subscriptionId, records] of buffer) for (const record of records) this.record(subscriptionId, record)
      for (const subscriptionId of clear) this.clearFailures.add(subscriptionId)
    }
  }
}
