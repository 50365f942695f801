import { DELIVERY_ROUTING_KEY, topologyNames, type DeliveryTask } from '@arrivals/contracts'
import type { OutgoingMessage } from './broker.js'

/**
 * A new delivery task as the deliveries exchange expects it, whoever publishes it (the dispatcher's
 * fan-out, the subscriptions service's test notifications, replays and redeliveries).
 */
export function deliveryTaskMessage(namespace: string, task: DeliveryTask): OutgoingMessage {
  const headers: Record<string, string> = { tenantid: task.tenantId }
  if (task.traceparent) headers.traceparent = task.traceparent
  return {
    exchange: topologyNames(namespace).deliveriesExchange,
    routingKey: DELIVERY_ROUTING_KEY,
    body: Buffer.from(JSON.stringify(task)),
    properties: {
      // The webhook-id: the same for every attempt of one delivery.
      messageId: task.deliveryId,
      contentType: 'application/json',
      timestamp: Math.floor(Date.now() / 1000),
      // Tenant and trace context, readable without parsing the body.
      headers,
    },
  }
}
