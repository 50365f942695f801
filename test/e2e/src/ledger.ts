import { deliveryIdFor } from '@arrivals/contracts'
import type { Flow, FlowFilters, Notification } from './power-automate.js'

/** The trigger an accepted event starts when it is not said: goods received's. */
export const GOODS_RECEIVED_TRIGGER = 'When goods are received at a store'

/** A receipt (or another event) the product accepted (a 202 from inventory, or a confirmed publish). */
export interface AcceptedReceipt {
  eventId: string
  tenantId: string
  storeId: string
  skus: string[]
  totalQuantity: number
  /** The summary of the trigger whose flows it must reach; goods received's when absent. */
  trigger?: string
  /** A stock adjustment's reason. */
  reason?: string
  /** When the product accepted it (ms since epoch): event-to-flow latency starts here. */
  acceptedAt: number
}

/**
 * DESIGN.md's filter rules: storeId exact, sku on any item, minQuantity ≤ totalQuantity, reason exact;
 * absent matches all.
 */
export function flowMatches(filters: FlowFilters, receipt: AcceptedReceipt): boolean {
  if (filters.storeId !== undefined && filters.storeId !== receipt.storeId) return false
  if (filters.reason !== undefined && filters.reason !== receipt.reason) return false
  if (filters.sku !== undefined && !receipt.skus.includes(String(filters.sku))) return false
  if (filters.minQuantity !== undefined && receipt.totalQuantity < Number(filters.minQuantity)) return false
  return true
}

export interface DeliveryAccount {
  /** (flow, event) pairs that should have arrived and did. */
  delivered: number
  expected: number
  /** Deliveries of one (flow, event) beyond the first. */
  duplicates: number
  /** Expected but never arrived: `flow name ← eventId`. */
  missing: string[]
  /** Arrived but should not have (wrong tenant, filter, or a deleted flow). */
  unexpected: string[]
  /** A (flow, event) whose deliveries did not all carry deliveryIdFor(eventId, subscriptionId). */
  wrongIds: string[]
  /** From acceptance to the first arrival at each flow, over the delivered pairs. */
  latencyMs: { p50: number; p95: number; max: number }
}

/**
 * Reconciles what the flows received with what they should have: every accepted receipt at every
 * matching flow of its tenant at least once, nothing anywhere else, duplicates with one webhook-id.
 */
export function reconcile(flows: readonly { flow: Flow; tenantId: string }[], receipts: readonly AcceptedReceipt[], notifications: readonly Notification[]): DeliveryAccount {
  const account: DeliveryAccount = { delivered: 0, expected: 0, duplicates: 0, missing: [], unexpected: [], wrongIds: [], latencyMs: { p50: 0, p95: 0, max: 0 } }
  const latencies: number[] = []
  const seen = new Map<string, Notification[]>()
  for (const notification of notifications) {
    const key = `${notification.flow.workflowId}\u0000${String(notification.payload.eventId)}`
    seen.set(key, [...(seen.get(key) ?? []), notification])
  }
  const byId = new Map(receipts.map((receipt) => [receipt.eventId, receipt]))
  for (const { flow, tenantId } of flows) {
    for (const receipt of receipts) {
      const key = `${flow.workflowId}\u0000${receipt.eventId}`
      const arrived = seen.get(key) ?? []
      // A flow receives only the events of its own trigger.
      const should = receipt.tenantId === tenantId && (receipt.trigger ?? GOODS_RECEIVED_TRIGGER) === flow.trigger.summary && flowMatches(flow.filters, receipt)
      if (should) {
        account.expected++
        if (arrived.length === 0) account.missing.push(`${flow.name} ← ${receipt.eventId}`)
        else {
          account.delivered++
          latencies.push(Math.min(...arrived.map((n) => n.receivedAt)) - receipt.acceptedAt)
        }
      } else if (arrived.length > 0) {
        account.unexpected.push(`${flow.name} ← ${receipt.eventId} (${receipt.trigger ?? GOODS_RECEIVED_TRIGGER}, tenant ${receipt.tenantId}, store ${receipt.storeId}, total ${receipt.totalQuantity})`)
      }
      if (arrived.length > 1) account.duplicates += arrived.length - 1
      const expectedId = deliveryIdFor(receipt.eventId, flow.subscriptionId)
      if (arrived.some((n) => n.webhookId !== expectedId)) {
        account.wrongIds.push(`${flow.name} ← ${receipt.eventId}: ${[...new Set(arrived.map((n) => n.webhookId))].join(', ')} (expected ${expectedId})`)
      }
    }
  }
  latencies.sort((x, y) => x - y)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
  account.latencyMs = { p50: at(0.5), p95: at(0.95), max: latencies.at(-1) ?? 0 }
  for (const notification of notifications) {
    if (!byId.has(String(notification.payload.eventId))) {
      account.unexpected.push(`${notification.flow.name} ← unknown event ${String(notification.payload.eventId)}`)
    }
  }
  return account
}

/** A short summary for assertion messages (the lists can be thousands long). */
export function describeAccount(account: DeliveryAccount): string {
  const head = (list: string[]) => `${list.length}${list.length ? `: ${list.slice(0, 5).join(' | ')}${list.length > 5 ? ' …' : ''}` : ''}`
  const { p50, p95, max } = account.latencyMs
  return `expected ${account.expected}, delivered ${account.delivered}, duplicates ${account.duplicates}, ` +
    `latency p50 ${p50} ms p95 ${p95} ms max ${max} ms, ` +
    `missing ${head(account.missing)}, unexpected ${head(account.unexpected)}, wrong webhook-ids ${head(account.wrongIds)}`
}

/**
 * Waits until every expected delivery arrived, then a quiet period in which anything unexpected
 * (a duplicate, a wrong tenant, a deleted flow) would still show up, and returns the account.
 */
export async function settle(
  flows: readonly { flow: Flow; tenantId: string }[],
  receipts: readonly AcceptedReceipt[],
  notifications: () => readonly Notification[],
  options: { timeoutMs?: number; quietMs?: number } = {},
): Promise<DeliveryAccount> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  let account = reconcile(flows, receipts, notifications())
  while (account.missing.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    account = reconcile(flows, receipts, notifications())
  }
  await new Promise((resolve) => setTimeout(resolve, options.quietMs ?? 1_000))
  return reconcile(flows, receipts, notifications())
}
