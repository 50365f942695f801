import { randomBytes } from 'node:crypto'
import { GOODS_RECEIVED, type DeliveryTask, type GoodsReceivedNotification, type SubscriptionRecord } from '@arrivals/contracts'

/** A new webhook-id for a delivery that is not an event's (a test notification). */
export function newDeliveryId(): string {
  return `msg_${randomBytes(16).toString('base64url')}`
}

/**
 * A realistic notification that matches the subscription's own filters, so the flow's conditions
 * see what a real one would carry.
 */
export function sampleNotification(record: SubscriptionRecord, now = new Date()): GoodsReceivedNotification {
  const { storeId = 'sample-store', sku = 'SAMPLE-SKU', minQuantity = 1 } = record.filters
  const quantity = Math.max(minQuantity, 12)
  const at = now.toISOString()
  return {
    eventId: `test-${randomBytes(12).toString('hex')}`,
    eventType: GOODS_RECEIVED,
    occurredAt: at,
    receiptId: `test-receipt-${randomBytes(4).toString('hex')}`,
    storeId,
    storeName: storeId === 'sample-store' ? 'Sample store' : storeId,
    supplier: 'Arrivals test notification',
    receivedAt: at,
    items: [{ sku, name: 'Sample product', quantity, unit: 'case' }],
    totalQuantity: quantity,
  }
}

export function testTask(record: SubscriptionRecord): DeliveryTask {
  const payload = sampleNotification(record)
  return {
    kind: 'deliver',
    deliveryId: newDeliveryId(),
    subscriptionId: record.id,
    tenantId: record.tenantId,
    eventId: payload.eventId,
    eventType: payload.eventType,
    attempt: 1,
    createdAt: Date.now(),
    occurredAt: payload.occurredAt,
    origin: 'test',
    payload,
  }
}

/** A dead letter's task sent again: attempt 1, the same webhook-id, the last failure forgotten. */
export function replayTask(task: DeliveryTask, origin: 'replay' | 'redeliver'): DeliveryTask {
  const { lastStatus: _status, lastError: _error, ...rest } = task
  return { ...rest, attempt: 1, origin, createdAt: Date.now() }
}
