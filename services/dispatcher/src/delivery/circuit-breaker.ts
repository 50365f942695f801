/**
 * One breaker per endpoint (scheme, host and path of the callback: never its secret query string).
 * After `failureThreshold` consecutive endpoint failures it opens for `openMs`: deliveries to that
 * endpoint wait in the retry tiers (without spending their attempts) instead of piling onto a receiver
 * that is down. Then one probe goes through (half-open): a success closes it, a failure reopens it.
 *
 * With the default thresholds (5 failures, 30 s) a single failing delivery cannot trip the breaker
 * before its own schedule has spaced its attempts further apart than the open period, so the breaker
 * never swallows the scheduled attempts of one delivery; it only holds back a crowd.
 */
export interface CircuitBreakerOptions {
  failureThreshold: number
  openMs: number
}

export type CircuitCheck = { allowed: true; probe: boolean } | { allowed: false; retryInMs: number }

interface Circuit {
  failures: number
  openUntil: number
  probing: boolean
}

export class CircuitBreakers {
  private readonly circuits = new Map<string, Circuit>()

  constructor(private readonly options: CircuitBreakerOptions) {}

  check(endpoint: string, now = Date.now()): CircuitCheck {
    const circuit = this.circuits.get(endpoint)
    if (!circuit || circuit.openUntil === 0) return { allowed: true, probe: false }
    if (now < circuit.openUntil) return { allowed: false, retryInMs: circuit.openUntil - now }
    // Half-open: exactly one probe at a time; the others wait a little and look again.
    if (circuit.probing) return { allowed: false, retryInMs: Math.min(this.options.openMs, 1_000) }
    circuit.probing = true
    return { allowed: true, probe: true }
  }

  /** No recent failures at all: the endpoint is healthy. */
  isClosed(endpoint: string): boolean {
    return !this.circuits.has(endpoint)
  }

  /** Records an answer (or its absence): `failed` is an endpoint failure (5xx, 408, 429, timeout, network). */
  record(endpoint: string, failed: boolean, now = Date.now()): void {
    if (!failed) {
      this.circuits.delete(endpoint)
      return
    }
    const circuit = this.circuits.get(endpoint) ?? { failures: 0, openUntil: 0, probing: false }
    circuit.failures += 1
    if (circuit.probing || circuit.failures >= this.options.failureThreshold) {
      circuit.openUntil = now + this.options.openMs
      circuit.probing = false
    }
    this.circuits.set(endpoint, circuit)
  }

  /** A probe that ended without an answer about the endpoint (shutdown, refused): let another try. */
  releaseProbe(endpoint: string): void {
    const circuit = this.circuits.get(endpoint)
    if (circuit) circuit.probing = false
  }

  openCount(now = Date.now()): number {
    let open = 0
    for (const circuit of this.circuits.values()) if (circuit.openUntil > now || circuit.probing) open += 1
    return open
  }
}
