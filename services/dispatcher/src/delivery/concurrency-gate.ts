/**
 * Caps concurrent sends per endpoint and in all. A slow endpoint holds at most `perEndpoint` sends
 * in flight and a quarter as many waiting (enough to absorb a burst to a fast one); a task beyond that is 'busy' and the caller defers it to a retry tier
 * (without spending an attempt), so it releases its prefetch slot and other subscriptions' tasks keep
 * flowing. A fast endpoint never notices: its waiting tasks start within milliseconds.
 */
export class ShutdownError extends Error {
  override readonly name = 'ShutdownError'
}

class Semaphore {
  private active = 0
  private readonly waiters: { resolve: () => void; reject: (error: Error) => void }[] = []

  constructor(private readonly limit: number) {}

  get idle(): boolean {
    return this.active === 0 && this.waiters.length === 0
  }

  /** Resolves when a slot is held; undefined when `maxWaiting` tasks already wait. */
  acquire(maxWaiting = Number.POSITIVE_INFINITY): Promise<void> | undefined {
    if (this.active < this.limit) {
      this.active += 1
      return Promise.resolve()
    }
    if (this.waiters.length >= maxWaiting) return undefined
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
  }

  /** A slot now, without waiting, or false. */
  tryAcquire(): boolean {
    if (this.active >= this.limit || this.waiters.length > 0) return false
    this.active += 1
    return true
  }

  release(): void {
    const next = this.waiters.shift()
    if (next) next.resolve()
    else this.active -= 1
  }

  rejectWaiting(error: Error): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error)
  }
}

export type Release = () => void

export class ConcurrencyGate {
  private readonly total: Semaphore
  private readonly endpoints = new Map<string, Semaphore>()

  private readonly waitingPerEndpoint: number

  constructor(total: number, private readonly perEndpoint: number) {
    this.total = new Semaphore(total)
    this.waitingPerEndpoint = Math.max(1, Math.ceil(perEndpoint / 4))
  }

  /** A release function once both slots are held, or 'busy' when the endpoint's queue is full. */
  async acquire(endpoint: string): Promise<Release | 'busy'> {
    let semaphore = this.endpoints.get(endpoint)
    if (!semaphore) {
      semaphore = new Semaphore(this.perEndpoint)
      this.endpoints.set(endpoint, semaphore)
    }
    const held = semaphore.acquire(this.waitingPerEndpoint)
    if (!held) return 'busy'
    const endpointSlot = semaphore
    await held
    try {
      await this.total.acquire()
    } catch (error) {
      this.releaseEndpoint(endpoint, endpointSlot)
      throw error
    }
    return this.releaser(endpoint, endpointSlot)
  }

  /** Both slots at once without waiting (the fan-out's inline first attempt), or undefined. */
  tryAcquire(endpoint: string): Release | undefined {
    const semaphore = this.endpoints.get(endpoint) ?? new Semaphore(this.perEndpoint)
    if (!semaphore.tryAcquire()) return undefined
    if (!this.total.tryAcquire()) {
      semaphore.release()
      return undefined
    }
    this.endpoints.set(endpoint, semaphore)
    return this.releaser(endpoint, semaphore)
  }

  /** Shutdown: every task still waiting for a slot is handed back (its caller requeues it). */
  rejectWaiting(): void {
    const error = new ShutdownError('shutting down')
    this.total.rejectWaiting(error)
    for (const semaphore of this.endpoints.values()) semaphore.rejectWaiting(error)
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
    if (semaphore.idle && this.endpoints.get(endpoint) === semaphore) this.endpoints.delete(endpoint)
  }
}
