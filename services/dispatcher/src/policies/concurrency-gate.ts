/** A wait for a send slot (or for Redis) cut short by a shutdown: the message is handed back, not failed. */
export class ShutdownError extends Error {
  override readonly name = 'ShutdownError'
}

interface Waiter {
  /** true: the slot is held; false: sent away ('busy'). */
  resolve: (held: boolean) => void
  reject: (error: Error) => void
}

class Semaphore {
  private active = 0
  private readonly waiters: Waiter[] = []

  constructor(private readonly limit: number) {}

  get idle(): boolean {
    return this.active === 0 && this.waiters.length === 0
  }

  /** Resolves true when a slot is held, false when there is no room to wait (or it was trimmed away). */
  acquire(maxWaiting = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (this.active < this.limit) {
      this.active += 1
      return Promise.resolve(true)
    }
    if (this.waiters.length >= maxWaiting) return Promise.resolve(false)
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
  }

  release(): void {
    const next = this.waiters.shift()
    if (next) next.resolve(true)
    else this.active -= 1
  }

  /** Sends away the newest waiters beyond `maxWaiting`. */
  trim(maxWaiting: number): void {
    for (const waiter of this.waiters.splice(maxWaiting)) waiter.resolve(false)
  }

  rejectWaiting(error: Error): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error)
  }
}

type Release = () => void

/**
 * Caps concurrent sends per endpoint and in all. Each endpoint has at most `perEndpoint` sends in
 * flight. Tasks for a fast endpoint at its cap simply wait their turn (milliseconds). A slow endpoint
 * may keep only a quarter of its cap waiting: a task beyond that is 'busy' and the caller defers it to
 * a retry tier (without spending an attempt), so it gives back its prefetch slot and other
 * subscriptions' tasks keep flowing. When a fast endpoint turns slow, `trim` sends its surplus waiting
 * tasks away the same way.
 */
export class ConcurrencyGate {
  private readonly total: Semaphore
  private readonly endpoints = new Map<string, Semaphore>()
  /** How many tasks a slow endpoint may keep waiting for a slot. */
  readonly slowWaiting: number

  constructor(total: number, private readonly perEndpoint: number) {
    this.total = new Semaphore(total)
    this.slowWaiting = Math.max(1, Math.ceil(perEndpoint / 4))
  }

  /** A release function once both slots are held, or 'busy' when a slow endpoint has no room to wait. */
  async acquire(endpoint: string, slow: boolean): Promise<Release | 'busy'> {
    const semaphore = this.endpoint(endpoint)
    const held = await semaphore.acquire(slow ? this.slowWaiting : Number.POSITIVE_INFINITY)
    if (!held) {
      this.forget(endpoint, semaphore)
      return 'busy'
    }
    try {
      await this.total.acquire()
    } catch (error) {
      this.releaseEndpoint(endpoint, semaphore)
      throw error
    }
    return this.releaser(endpoint, semaphore)
  }

  /** Endpoints that turned slow keep only `slowWaiting` tasks waiting; the rest are sent away ('busy'). */
  trim(isSlow: (endpoint: string) => boolean): void {
    for (const [endpoint, semaphore] of this.endpoints) {
      if (isSlow(endpoint)) semaphore.trim(this.slowWaiting)
    }
  }

  /** Shutdown: every task still waiting for a slot is handed back (its caller requeues it). */
  rejectWaiting(): void {
    const error = new ShutdownError('shutting down')
    this.total.rejectWaiting(error)
    for (const semaphore of this.endpoints.values()) semaphore.rejectWaiting(error)
  }

  private endpoint(endpoint: string): Semaphore {
    let semaphore = this.endpoints.get(endpoint)
    if (!semaphore) {
      semaphore = new Semaphore(this.perEndpoint)
      this.endpoints.set(endpoint, semaphore)
    }
    return semaphore
  }

  /** Gives both slots back, once, however often it is called. */
  private releaser(endpoint: string, semaphore: Semaphore): Release {
    let released = false
    return () => {
      if (released) return
      released = true
      this.total.release()
      this.releaseEndpoint(endpoint, semaphore)
    }
  }

  private releaseEndpoint(endpoint: string, semaphore: Semaphore): void {
    semaphore.release()
    this.forget(endpoint, semaphore)
  }

  private forget(endpoint: string, semaphore: Semaphore): void {
    if (semaphore.idle && this.endpoints.get(endpoint) === semaphore) this.endpoints.delete(endpoint)
  }
}
