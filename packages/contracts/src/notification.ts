import { Type, type Static } from '@sinclair/typebox'
import { GOODS_RECEIVED, GoodsReceivedData, GoodsReceivedItem, StoreId, Sku } from './goods-received.js'
import type { GoodsReceivedEvent } from './events.js'

/**
 * What a flow receives: one flat camelCase object. The connector's x-ms-notification-content is
 * generated from this schema, so the designer's dynamic content and the dispatcher's body agree.
 * `x-ms-summary` gives each field its label in the Power Automate designer.
 */
export const designerSummary = (title: string) => ({ 'x-ms-summary': title })

/** The fields every notification starts with, whatever its type: which event, of which type, when. */
export function eventFields(type: string) {
  return {
    eventId: Type.String({ ...designerSummary('Event ID'), description: 'Unique identifier of the event; the same on every retry.' }),
    eventType: Type.String({ ...designerSummary('Event type'), description: `Always "${type}" for this trigger.` }),
    occurredAt: Type.String({ ...designerSummary('Occurred at'), format: 'date-time', description: 'When the event happened (RFC 3339).' }),
  }
}

export const GoodsReceivedNotification = Type.Object({
  ...eventFields(GOODS_RECEIVED),
  receiptId: Type.String({ ...designerSummary('Receipt ID'), description: GoodsReceivedData.properties.receiptId.description }),
  storeId: Type.String({ ...designerSummary('Store ID'), description: StoreId.description }),
  storeName: Type.String({ ...designerSummary('Store name'), description: GoodsReceivedData.properties.storeName.description }),
  supplier: Type.String({ ...designerSummary('Supplier'), description: GoodsReceivedData.properties.supplier.description }),
  receivedAt: Type.String({ ...designerSummary('Received at'), format: 'date-time', description: GoodsReceivedData.properties.receivedAt.description }),
  items: Type.Array(
    Type.Object({
      sku: Type.String({ ...designerSummary('SKU'), description: Sku.description }),
      name: Type.String({ ...designerSummary('Product name'), description: GoodsReceivedItem.properties.name.description }),
      quantity: Type.Integer({ ...designerSummary('Quantity'), description: GoodsReceivedItem.properties.quantity.description }),
      unit: Type.String({ ...designerSummary('Unit'), description: GoodsReceivedItem.properties.unit.description }),
    }),
    { ...designerSummary('Items'), description: 'The goods that arrived.' },
  ),
  totalQuantity: Type.Integer({ ...designerSummary('Total quantity'), description: GoodsReceivedData.properties.totalQuantity.description }),
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
