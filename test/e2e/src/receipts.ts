import { randomBytes, randomUUID } from 'node:crypto'
import { goodsReceivedEvent, totalQuantity, type GoodsReceivedData } from '@arrivals/contracts'
import { createEventPublisher, type EventPublisher } from '@arrivals/messaging'
import type { AcceptedReceipt } from './ledger.js'

export interface ReceiptItem {
  sku: string
  name: string
  quantity: number
  unit: string
}

export interface ReceiptSpec {
  storeId: string
  items?: ReceiptItem[]
  supplier?: string
}

/** The body of `POST /v1/stores/{storeId}/receipts` (the store comes from the path). */
export function receiptBody(spec: ReceiptSpec): { receiptId: string; supplier: string; receivedAt: string; items: ReceiptItem[] } {
  return {
    receiptId: `rcpt-${randomBytes(6).toString('hex')}`,
    supplier: spec.supplier ?? 'Northwind Traders',
    receivedAt: new Date().toISOString(),
    items: spec.items ?? [{ sku: 'SKU-1', name: 'Oat milk 1 l', quantity: 12, unit: 'case' }],
  }
}

function accepted(tenantId: string, eventId: string, spec: ReceiptSpec, items: ReceiptItem[]): AcceptedReceipt {
  return { eventId, tenantId, storeId: spec.storeId, skus: items.map((item) => item.sku), totalQuantity: totalQuantity(items), acceptedAt: Date.now() }
}

export interface PostResult {
  status: number
  /** Set when inventory answered 202: the receipt must reach every matching flow. */
  accepted?: AcceptedReceipt
  retryAfter: string | null
  body: string
}

/** Posts a receipt to the inventory service, as a store system would. */
export async function postReceipt(inventoryUrl: string, tenant: { id: string; apiKey: string }, spec: ReceiptSpec, timeoutMs = 15_000): Promise<PostResult> {
  return new ReceiptSender(inventoryUrl, tenant, spec).send(timeoutMs)
}

/**
 * One receipt as a careful store system sends it: the same body and Idempotency-Key on every try,
 * so a retry after a 503 (whose event the broker may have taken after all) is the same event.
 */
export class ReceiptSender {
  readonly body: ReturnType<typeof receiptBody>
  readonly idempotencyKey = randomUUID()
  tries = 0

  constructor(readonly inventoryUrl: string, readonly tenant: { id: string; apiKey: string }, readonly spec: ReceiptSpec) {
    this.body = receiptBody(spec)
  }

  async send(timeoutMs = 15_000): Promise<PostResult> {
    this.tries++
    const response = await fetch(`${this.inventoryUrl}/v1/stores/${encodeURIComponent(this.spec.storeId)}/receipts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': this.tenant.apiKey, 'idempotency-key': this.idempotencyKey },
      body: JSON.stringify(this.body),
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await response.text()
    const result: PostResult = { status: response.status, retryAfter: response.headers.get('retry-after'), body: text }
    if (response.status === 202) {
      const { eventId } = JSON.parse(text) as { eventId: string }
      result.accepted = accepted(this.tenant.id, eventId, this.spec, this.body.items)
    }
    return result
  }
}

export interface AdjustmentSpec {
  storeId: string
  reason: 'damaged' | 'expired' | 'stock-count' | 'theft' | 'other'
  items: { sku: string; quantityDelta: number; name?: string; unit?: string }[]
  note?: string
}

/** Records a stock adjustment at the inventory service, as a store system would (with an Idempotency-Key). */
export async function postAdjustment(inventoryUrl: string, tenant: { id: string; apiKey: string }, spec: AdjustmentSpec, timeoutMs = 15_000): Promise<PostResult> {
  const { storeId, ...body } = spec
  const response = await fetch(`${inventoryUrl}/v1/stores/${encodeURIComponent(storeId)}/adjustments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': tenant.apiKey, 'idempotency-key': randomUUID() },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  })
  const text = await response.text()
  const result: PostResult = { status: response.status, retryAfter: response.headers.get('retry-after'), body: text }
  if (response.status === 202) {
    const { eventId } = JSON.parse(text) as { eventId: string }
    result.accepted = {
      eventId, tenantId: tenant.id, storeId, skus: spec.items.map((item) => item.sku), reason: spec.reason,
      totalQuantity: spec.items.reduce((sum, item) => sum + item.quantityDelta, 0), trigger: 'When stock is adjusted at a store', acceptedAt: Date.now(),
    }
  }
  return result
}

/** Publishes GoodsReceived straight onto the exchange, as another platform service may (messaging's createEventPublisher). */
export class DirectPublisher {
  private readonly publisher: EventPublisher

  constructor(amqpUrl: string, namespace: string) {
    this.publisher = createEventPublisher({ url: amqpUrl, namespace, clientName: 'e2e-direct-publisher' })
  }

  /** Resolves with the accepted receipt once the broker confirmed. */
  async publish(tenantId: string, spec: ReceiptSpec): Promise<AcceptedReceipt> {
    const body = receiptBody(spec)
    const data: GoodsReceivedData = {
      ...body,
      storeId: spec.storeId,
      storeName: `Store ${spec.storeId}`,
      totalQuantity: totalQuantity(body.items),
    }
    const event = goodsReceivedEvent({ tenantId, source: 'urn:arrivals:e2e', data })
    await this.publisher.publish(event)
    return accepted(tenantId, event.id, spec, body.items)
  }

  close(): Promise<void> {
    return this.publisher.close()
  }
}
