import { Type, type Static } from '@sinclair/typebox'
import { GOODS_RECEIVED, GoodsReceivedData, GoodsReceivedItem, StoreId, Sku } from './goods-received.js'
import type { GoodsReceivedEvent } from './events.js'

/**
 * What a flow receives: one flat camelCase object. The connector's x-ms-notification-content is
 * generated from this schema, so the designer's dynamic content and the dispatcher's body agree.
 * `x-ms-summary` gives each field its label in the Power Automate designer.
 */
const summary = (title: string) => ({ 'x-ms-summary': title })

export const GoodsReceivedNotification = Type.Object({
  eventId: Type.String({ ...summary('Event ID'), description: 'Unique identifier of the event; the same on every retry.' }),
  eventType: Type.String({ ...summary('Event type'), description: `Always "${GOODS_RECEIVED}" for this trigger.` }),
  occurredAt: Type.String({ ...summary('Occurred at'), format: 'date-time', description: 'When the event happened (RFC 3339).' }),
  receiptId: Type.String({ ...summary('Receipt ID'), description: GoodsReceivedData.properties.receiptId.description }),
  storeId: Type.String({ ...summary('Store ID'), description: StoreId.description }),
  storeName: Type.String({ ...summary('Store name'), description: GoodsReceivedData.properties.storeName.description }),
  supplier: Type.String({ ...summary('Supplier'), description: GoodsReceivedData.properties.supplier.description }),
  receivedAt: Type.String({ ...summary('Received at'), format: 'date-time', description: GoodsReceivedData.properties.receivedAt.description }),
  items: Type.Array(
    Type.Object({
      sku: Type.String({ ...summary('SKU'), description: Sku.description }),
      name: Type.String({ ...summary('Product name'), description: GoodsReceivedItem.properties.name.description }),
      quantity: Type.Integer({ ...summary('Quantity'), description: GoodsReceivedItem.properties.quantity.description }),
      unit: Type.String({ ...summary('Unit'), description: GoodsReceivedItem.properties.unit.description }),
    }),
    { ...summary('Items'), description: 'The goods that arrived.' },
  ),
  totalQuantity: Type.Integer({ ...summary('Total quantity'), description: GoodsReceivedData.properties.totalQuantity.description }),
}, { title: 'Goods received', description: 'Goods were received at a store.' })
export type GoodsReceivedNotification = Static<typeof GoodsReceivedNotification>

/** Derives the flat notification a flow receives from a validated event. */
export function toNotification(event: GoodsReceivedEvent): GoodsReceivedNotification {
  const { data } = event
  return {
    eventId: event.id,
    eventType: event.type,
    occurredAt: event.time,
    receiptId: data.receiptId,
    storeId: data.storeId,
    storeName: data.storeName,
    supplier: data.supplier,
    receivedAt: data.receivedAt,
    items: data.items.map(({ sku, name, quantity, unit }) => ({ sku, name, quantity, unit })),
    totalQuantity: data.totalQuantity,
  }
}
