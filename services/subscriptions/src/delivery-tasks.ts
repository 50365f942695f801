import { randomBytes } from 'node:crypto'
import { catalogueEntry, goodsReceived, type DeliveryTask, type Notification, type SubscriptionRecord } from '@arrivals/contracts'

/** A new webhook-id for a delivery that is not an event's (a test notification). */
export function newDeliveryId(): string {
  return `msg_${randomBytes(16).toString('base64url')}`
}

/**
 * A realistic notification of the subscription's event type that matches its own filters (the
 * catalogue entry's sample), so the flow's conditions see what a real one would carry.
 */
export function sampleNotification(record: SubscriptionRecord, now = new Date()): Notification {
  const entry = catalogueEntry(record.eventType) ?? goodsReceived
  return entry.sample(record.filters, now.toISOString(), {
    eventId: `test-${randomBytes(12).toString('hex')}`,
    objectId: `test-${randomBytes(4).toString('hex')}`,
  })
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
