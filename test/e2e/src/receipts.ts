import { randomBytes, randomUUID } from 'node:crypto'
import { createEventPublisher, goodsReceivedEvent, totalQuantity, type EventPublisher, type GoodsReceivedData } from '@arrivals/contracts'
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
  const body = receiptBody(spec)
  const response = await fetch(`${inventoryUrl}/v1/stores/${encodeURIComponent(spec.storeId)}/receipts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': tenant.apiKey, 'idempotency-key': randomUUID() },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  })
  const text = await response.text()
  const result: PostResult = { status: response.status, retryAfter: response.headers.get('retry-after'), body: text }
  if (response.status === 202) {
    const { eventId } = JSON.parse(text) as { eventId: string }
    result.accepted = accepted(tenant.id, eventId, spec, body.items)
  }
  return result
}

/** Publishes GoodsReceived straight onto the exchange, as another platform service may (contracts' publisher). */
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
