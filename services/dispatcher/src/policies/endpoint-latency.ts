interface Endpoint {
  average: number
  /** Start times of the requests to it in flight now. */
  inFlight: Set<number>
}

/**
 * How fast each endpoint answers lately (an exponentially weighted average, and the age of what is
 * in flight), so the fan-out stage makes the first attempt itself only for endpoints that answer
 * fast: a slow one would hold the event, and the events prefetch, for as long as it takes.
 */
export class EndpointLatency {
  private readonly endpoints = new Map<string, Endpoint>()

  constructor(private readonly fastMs: number, private readonly maxEndpoints = 10_000) {}

  /** Marks a request as started; the returned function marks it finished after `durationMs`. */
  begin(endpoint: string, now = performance.now()): (durationMs: number) => void {
    let entry = this.endpoints.get(endpoint)
    if (!entry) {
      entry = { average: 0, inFlight: new Set() }
      this.endpoints.set(endpoint, entry)
      if (this.endpoints.size > this.maxEndpoints) this.endpoints.delete(this.endpoints.keys().next().value!)
    }
    const tracked = entry
    let started = now
    while (tracked.inFlight.has(started)) started += 1e-6
    tracked.inFlight.add(started)
    return (durationMs) => {
      tracked.inFlight.delete(started)
      // Recent answers weigh most; one slow answer is enough to stop inline attempts for a while.
      tracked.average = Math.max(durationMs, tracked.average * 0.8 + durationMs * 0.2)
    }
  }

  /** Unknown endpoints count as fast until an answer (or a request in flight too long) says otherwise. */
  isFast(endpoint: string, now = performance.now()): boolean {
    const entry = this.endpoints.get(endpoint)
    if (!entry) return true
    if (entry.average > this.fastMs) return false
    for (const started of entry.inFlight) if (now - started > this.fastMs) return false
    return true
  }
}
