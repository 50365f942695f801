/**
 * Failed authentications per client address, counted in this replica's memory over fixed one-minute
 * windows: no Redis round trip per request, and it keeps working while Redis is away. N replicas
 * allow N times the limit, which still turns a key-guessing run of thousands per second into a trickle.
 */
export interface AuthFailureThrottle {
  /** Seconds until this address may try again; 0 when it may now. */
  blockedFor(address: string, nowMs?: number): number
  /** Counts one failed authentication of this address. */
  failed(address: string, nowMs?: number): void
}

export interface AuthFailureLimits {
  /** Failed authentications per address per minute before it gets 429s (0: no limit). */
  perMinute: number
  /** Addresses tracked at most; the oldest window goes first, so a spray of addresses costs bounded memory. */
  maxAddresses?: number
}

const WINDOW_MS = 60_000

export function authFailureThrottle({ perMinute, maxAddresses = 100_000 }: AuthFailureLimits): AuthFailureThrottle {
  // Insertion order is window start order (a new window re-inserts), so the first entries are the oldest.
  const windows = new Map<string, { startMs: number; failures: number }>()

  function current(address: string, nowMs: number) {
    const window = windows.get(address)
    if (window && nowMs - window.startMs < WINDOW_MS) return window
    if (window) windows.delete(address)
    return undefined
  }

  return {
    blockedFor(address, nowMs = Date.now()) {
      if (perMinute <= 0) return 0
      const window = current(address, nowMs)
      if (!window || window.failures < perMinute) return 0
      return Math.max(1, Math.ceil((window.startMs + WINDOW_MS - nowMs) / 1_000))
    },
    failed(address, nowMs = Date.now()) {
      if (perMinute <= 0) return
      const window = current(address, nowMs)
      if (window) {
        window.failures++
        return
      }
      while (windows.size >= maxAddresses) windows.delete(windows.keys().next().value!)
      windows.set(address, { startMs: nowMs, failures: 1 })
    },
  }
}
