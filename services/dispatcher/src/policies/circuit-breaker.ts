interface CircuitBreakerOptions {
  failureThreshold: number
  openMs: number
  /** Endpoints remembered at most (least recently used are forgotten). */
  maxEndpoints?: number
}

type CircuitCheck = { allowed: true } | { allowed: false; retryInMs: number }

interface Circuit {
  failures: number
  openUntil: number
  lastSuccessAt: number
}

/**
 * One breaker per endpoint (scheme, host and path of the callback: never its secret query string).
 *
 * It opens when an endpoint looks down: `failureThreshold` consecutive endpoint failures (5xx, 408,
 * 429, timeouts, network errors) and no success at all within the last `openMs`. An endpoint that
 * still answers some requests (a flaky one) stays closed: holding its traffic back would only delay
 * the deliveries that would have succeeded.
 *
 * While open, new deliveries (first attempts) wait in the retry tiers without spending an attempt
 * (DESIGN: wait rather than dead-letter), so a crowd does not pile onto a receiver that is down.
 * Retries go through: they are the scheduled attempts of deliveries that already failed, spaced by
 * the schedule, so the breaker never swallows them, and they are its probes: one success closes it.
 * After `openMs` it lets new deliveries through again and reopens only after `failureThreshold` more
 * consecutive failures.
 */
export class CircuitBreakers {
  private readonly circuits = new Map<string, Circuit>()

  constructor(private readonly options: CircuitBreakerOptions) {}

  /** May attempt number `attempt` of a delivery to this endpoint go now? */
  check(endpoint: string, attempt: number, now = Date.now()): CircuitCheck {
    const circuit = this.circuits.get(endpoint)
    if (!circuit || now >= circuit.openUntil || attempt > 1) return { allowed: true }
    return { allowed: false, retryInMs: circuit.openUntil - now }
  }

  /** No failure since the last success: the fan-out may make first attempts itself. */
  isClosed(endpoint: string, now = Date.now()): boolean {
    const circuit = this.circuits.get(endpoint)
    return !circuit || (circuit.failures === 0 && now >= circuit.openUntil)
  }

  /** Records an answer (or its absence): `failed` is an endpoint failure. */
  record(endpoint: string, failed: boolean, now = Date.now()): void {
    const circuit = this.circuits.get(endpoint) ?? { failures: 0, openUntil: 0, lastSuccessAt: Number.NEGATIVE_INFINITY }
    if (!failed) {
      circuit.failures = 0
      circuit.openUntil = 0
      circuit.lastSuccessAt = now
    } else {
      circuit.failures += 1
      if (circuit.failures >= this.options.failureThreshold && now - circuit.lastSuccessAt >= this.options.openMs) {
        circuit.openUntil = now + this.options.openMs
        circuit.failures = 0
      }
    }
    // Most recently used last, so the first entry is the one to forget.
    this.circuits.delete(endpoint)
    this.circuits.set(endpoint, circuit)
    if (this.circuits.size > (this.options.maxEndpoints ?? 10_000)) this.circuits.delete(this.circuits.keys().next().value!)
  }

  openCount(now = Date.now()): number {
    let open = 0
    for (const circuit of this.circuits.values()) if (circuit.openUntil > now) open += 1
    return open
  }
}
