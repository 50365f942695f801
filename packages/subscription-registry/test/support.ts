import { randomBytes } from 'node:crypto'
import type { AttemptRecord, DeadLetterRecord, SubscriptionRecord } from '@arrivals/contracts'

export function tenantId(name: string): string {
  return `${name}-${randomBytes(3).toString('hex')}`
}

/** Subscription ids are random, so the history keyed by them never meets another test's. */
export function subscriptionId(): string {
  return `sub_${randomBytes(16).toString('base64url')}`
}

/** A stored-shape record; the registry never opens sealed values, so these need not open. */
export function subscriptionRecord(tenant: string, overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  const id = subscriptionId()
  const now = new Date().toISOString()
  return {
    id,
    tenantId: tenant,
    eventType: 'inventory.goods-received.v1',
    callbackSealed: 'sealed-callback',
    callbackRedacted: 'https://flows.example/hook',
    fingerprint: `fp-${id}`,
    secretSealed: 'sealed-secret',
    filters: {},
    status: 'active',
    flow: { platform: 'api' },
    createdAt: now,
    updatedAt: now,
    ...overrides,
  }
}

export function attemptRecord(attempt: number, outcome: AttemptRecord['outcome'] = 'retrying'): AttemptRecord {
  return { deliveryId: 'msg_1', eventId: 'evt-1', attempt, at: new Date().toISOString(), outcome, status: 500, durationMs: 12 }
}

export function deadLetterRecord(tenant: string | null, overrides: Partial<DeadLetterRecord> = {}): DeadLetterRecord {
  return {
    id: `dl_${randomBytes(12).toString('base64url')}`,
    class: 'endpoint',
    tenantId: tenant,
    subscriptionId: 'sub_a',
    eventId: 'evt-1',
    reason: 'gave up after 8 attempts',
    lastStatus: 503,
    attempts: 8,
    deadLetteredAt: new Date().toISOString(),
    ...overrides,
  }
}

/** Polls until `check` holds (test-kit's waitFor without its imports, so the unit run stays light). */
export async function eventually(check: () => boolean, { what = 'condition', timeoutMs = 5_000 } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
