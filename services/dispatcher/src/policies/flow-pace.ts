import { randomBytes } from 'node:crypto'
import { parseFlowRate, type FlowRate } from '@arrivals/contracts'
import type { FlowBudgetStore, HoldReason } from '../ports.js'

/** May this delivery be sent now, or how long must it wait (without spending an attempt)? */
export type Pace = { go: true } | { go: false; waitMs: number; reason: Extract<HoldReason, 'flow-rate' | 'paused'> }

const GO: Pace = { go: true }

/** One replica's share of a subscription's budget: reserved in Redis, spent here without asking again. */
interface Lease {
  id: string
  granted: number
  left: number
  /** Past this the leftovers are not spent (they are given back with the next reservation). */
  expiresAt: number
  /** Nothing granted: no reservation is asked for before this. */
  blockedUntil: number
  /** The reservation in flight, which concurrent deliveries of the subscription wait for. */
  pending?: Promise<void>
}

export interface FlowPaceOptions {
  /** FLOW_RATE_LIMIT: null when unlimited. */
  defaultRate: FlowRate | null
  /** Tells this replica's reservations apart. */
  replica?: string
  now?: () => number
}

/**
 * Subscriptions whose share this process keeps; past it the least recently reserved half is forgotten
 * (their unused rest stays counted until it expires: safe, and only a little budget lost).
 */
const LEASES_KEPT = 50_000
/** Pauses kept before the expired ones are swept. */
const PAUSES_KEPT = 10_000

/**
 * The flow rate (DESIGN, "Flow rate"): at most `count` webhooks per subscription in any window,
 * across every replica, and a receiver's 429 pausing the subscription everywhere.
 *
 * Each replica reserves a share of the subscription's window in Redis (one round trip) and spends it
 * locally, asking again only when its share runs out or expires. A share doubles while it runs out
 * early and shrinks to what was used when it expires; the unused rest is given back with the next
 * reservation. A share is spent only for its hold after it was reserved, and counts in Redis for the
 * window plus that hold, so the sends of any window all come from reservations that were counted
 * together when the latest of them was made: never more than `count` in any window. The hold is a
 * whole window while the budget is plainly not near (a quarter used): a quiet subscription costs one
 * round trip per share, not per delivery. Near the limit it is short (a tenth of the window, at most
 * 5 s), which costs at most that much of the window's budget.
 */
export class FlowPace {
  private readonly leases = new Map<string, Lease>()
  private readonly pauses = new Map<string, number>()
  private readonly rates = new Map<string, FlowRate | null>()
  private readonly replica: string
  private readonly now: () => number
  private sequence = 0

  constructor(private readonly budgets: FlowBudgetStore, private readonly options: FlowPaceOptions) {
    this.replica = options.replica ?? randomBytes(6).toString('base64url')
    this.now = options.now ?? Date.now
  }

  /** Takes one webhook's worth of the subscription's budget (`override`: the operator's, else FLOW_RATE_LIMIT). */
  take(tenantId: string, subscriptionId: string, override?: string): Pace | Promise<Pace> {
    const rate = this.rateOf(override)
    return this.spend(tenantId, subscriptionId, rate, this.now())
  }

  private spend(tenantId: string, subscriptionId: string, rate: FlowRate | null, now: number): Pace | Promise<Pace> {
    const pausedUntil = this.pauses.get(subscriptionId)
    if (pausedUntil !== undefined) {
      if (pausedUntil > now) return { go: false, waitMs: pausedUntil - now, reason: 'paused' }
      this.pauses.delete(subscriptionId)
    }
    if (rate === null) return GO
    const lease = this.leases.get(subscriptionId)
    if (lease && !lease.pending) {
      if (lease.left > 0 && now < lease.expiresAt) {
        lease.left -= 1
        return GO
      }
      if (lease.blockedUntil > now) return { go: false, waitMs: lease.blockedUntil - now, reason: 'flow-rate' }
    }
    return this.reserve(tenantId, subscriptionId, rate, lease)
  }

  /** A receiver answered 429 with Retry-After: paused here at once and, through Redis, on every replica. */
  async pause(tenantId: string, subscriptionId: string, untilMs: number): Promise<void> {
    this.paused(subscriptionId, untilMs)
    await this.budgets.pause(tenantId, subscriptionId, untilMs, this.now())
  }

  /** A pause made here or by another replica (the change signal). */
  paused(subscriptionId: string, untilMs: number): void {
    if (untilMs <= (this.pauses.get(subscriptionId) ?? 0)) return
    this.pauses.set(subscriptionId, untilMs)
    if (this.pauses.size <= PAUSES_KEPT) return
    const now = this.now()
    for (const [id, until] of this.pauses) if (until <= now) this.pauses.delete(id)
  }

  /** How long a share is spent: a tenth of the window, at most 5 s. */
  static holdMs(rate: FlowRate): number {
    return Math.max(1, Math.min(5_000, Math.floor(rate.windowMs / 10)))
  }

  private rateOf(override: string | undefined): FlowRate | null {
    if (override === undefined) return this.options.defaultRate
    let rate = this.rates.get(override)
    if (rate === undefined) {
      // The subscriptions service checked it; one that still cannot be read leaves the default in force.
      const parsed = parseFlowRate(override)
      rate = parsed === undefined ? this.options.defaultRate : parsed
      if (this.rates.size > 1_000) this.rates.clear()
      this.rates.set(override, rate)
    }
    return rate
  }

  private async reserve(tenantId: string, subscriptionId: string, rate: FlowRate, previous: Lease | undefined): Promise<Pace> {
    if (previous?.pending) {
      await previous.pending
      return this.spend(tenantId, subscriptionId, rate, this.now())
    }
    const now = this.now()
    const holdMs = FlowPace.holdMs(rate)
    const cap = Math.max(1, Math.floor(rate.count / 10))
    let want = 1
    if (previous && previous.granted > 0) want = previous.left === 0 ? previous.granted * 2 : Math.max(1, previous.granted - previous.left)
    want = Math.min(cap, want)
    const lease: Lease = { id: `${this.replica}.${(this.sequence++).toString(36)}`, granted: 0, left: 0, expiresAt: 0, blockedUntil: 0 }
    const refund = previous && previous.left > 0 && previous.granted > 0 ? { id: previous.id, granted: previous.granted, unused: previous.left } : undefined
    let settle!: () => void
    lease.pending = new Promise((resolve) => (settle = resolve))
    this.remember(subscriptionId, lease)
    try {
      const request = { want, limit: rate.count, windowMs: rate.windowMs, holdMs, longHoldMs: rate.windowMs, id: lease.id }
      const grant = await this.budgets.reserve(tenantId, subscriptionId, refund ? { ...request, refund } : request, now)
      const after = this.now()
      if (grant.pausedUntil !== undefined) {
        this.paused(subscriptionId, grant.pausedUntil)
        return { go: false, waitMs: Math.max(1, grant.pausedUntil - after), reason: 'paused' }
      }
      if (grant.granted > 0) {
        lease.granted = grant.granted
        lease.left = grant.granted - 1
        lease.expiresAt = now + grant.holdMs
        return GO
      }
      lease.blockedUntil = Math.max(after + 1, grant.freesAt ?? after + holdMs)
      return { go: false, waitMs: lease.blockedUntil - after, reason: 'flow-rate' }
    } catch (error) {
      // Redis unreachable: forget the lease, so the next delivery asks again; this one is handed back.
      this.leases.delete(subscriptionId)
      throw error
    } finally {
      delete lease.pending
      settle()
    }
  }

  private remember(subscriptionId: string, lease: Lease): void {
    this.leases.delete(subscriptionId)
    this.leases.set(subscriptionId, lease)
    if (this.leases.size <= LEASES_KEPT) return
    // Oldest reservation first (insertion order); half at once, so the cost per reservation stays constant.
    for (const id of this.leases.keys()) {
      if (this.leases.size <= LEASES_KEPT / 2) break
      this.leases.delete(id)
    }
  }
}
