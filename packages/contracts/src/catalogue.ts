import type { TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import {
  GoodsReceivedEvent as GoodsReceivedEventSchema, StockAdjustedEvent as StockAdjustedEventSchema,
  type ArrivalsEvent, type GoodsReceivedEvent, type StockAdjustedEvent,
} from './event-schemas.js'
import { GOODS_RECEIVED, GoodsReceivedData, limits } from './goods-received.js'
import { GoodsReceivedNotification, toNotification as goodsReceivedNotification } from './notification.js'
import {
  STOCK_ADJUSTED, StockAdjustedData, StockAdjustedNotification, adjustmentReasons, zeroDeltaItem,
} from './stock-adjusted.js'

/**
 * The event catalogue: one entry per event type a flow can be started by. Inventory validates and
 * publishes with it, the dispatcher matches and builds notifications with it, the subscriptions
 * service makes a webhook trigger of each entry (path, operation, filters, notification schema), and
 * the AsyncAPI check walks it. Adding an event type is one entry here and its schema file.
 */

/** How a filter the maker sets is compared with an event's data. */
export type FilterMatch =
  /** The event's storeId equals it; the dispatcher indexes subscriptions by it, so it is never scanned. */
  | { kind: 'store' }
  /** Any item of the event has this SKU. */
  | { kind: 'any-item-sku' }
  /** A top-level string field of the data equals it. */
  | { kind: 'equals'; field: string }
  /** A top-level number field of the data is at least it. */
  | { kind: 'at-least'; field: string }

export interface FilterDefinition {
  name: string
  /** The designer's label and help text. */
  summary: string
  description: string
  type: 'string' | 'integer'
  /** JSON Schema constraints of the value (pattern, lengths, bounds, enum). */
  constraints: Record<string, unknown>
  /** `important` filters show in the trigger card; `advanced` ones under "Show advanced options". */
  visibility: 'important' | 'advanced'
  /** A dropdown: the tenant's stores (the connector's ListStores), or the listed values. */
  dropdown?: 'stores' | 'enum'
  match: FilterMatch
}

export interface TriggerDefinition {
  /** `POST <path>` subscribes, `DELETE <path>` unsubscribes by callback (Logic Apps). */
  path: string
  operationId: string
  summary: string
  description: string
  hint: string
  /** What the flow's trigger outputs are, in the connector's x-ms-notification-content. */
  notificationDescription: string
}

/** Every notification a flow can receive (one flat object per event type). */
export type Notification = GoodsReceivedNotification | StockAdjustedNotification

export interface CatalogueEntry {
  /** The CloudEvents type, also the routing key. */
  type: string
  /** The CloudEvent schema of this type (envelope + data). */
  event: TSchema
  data: TSchema
  notification: TSchema
  // Methods (not function properties), so an entry may take its own event type: parameters of
  // methods are checked bivariantly.
  /** The flat object a flow receives, from a validated event of this type. */
  toNotification(event: ArrivalsEvent): Notification
  /** A realistic notification that matches the given filters, for "Send test". */
  sample(filters: Readonly<Record<string, string | number | undefined>>, at: string, ids: { eventId: string; objectId: string }): Notification
  /** What TypeBox's compiled check cannot say (e.g. a delta of 0); undefined when the data is fine. */
  refine?(data: ArrivalsEvent['data']): { path: string; message: string } | undefined
  filters: readonly FilterDefinition[]
  trigger: TriggerDefinition
}

const storeFilter = (what: string): FilterDefinition => ({
  name: 'storeId',
  summary: 'Store',
  description: `Only ${what} at this store; leave empty for every store.`,
  type: 'string',
  constraints: { pattern: '^[A-Za-z0-9_-]{1,64}$', minLength: 1, maxLength: limits.idLength },
  visibility: 'important',
  dropdown: 'stores',
  match: { kind: 'store' },
})

const skuFilter = (what: string): FilterDefinition => ({
  name: 'sku',
  summary: 'SKU',
  description: `Only ${what} that contain this stock keeping unit.`,
  type: 'string',
  constraints: { minLength: 1, maxLength: limits.idLength },
  visibility: 'advanced',
  match: { kind: 'any-item-sku' },
})

export const goodsReceived: CatalogueEntry = {
  type: GOODS_RECEIVED,
  event: GoodsReceivedEventSchema,
  data: GoodsReceivedData,
  notification: GoodsReceivedNotification,
  toNotification(event: GoodsReceivedEvent): GoodsReceivedNotification {
    return goodsReceivedNotification(event)
  },
  sample(filters, at, ids) {
    const storeId = typeof filters.storeId === 'string' ? filters.storeId : 'sample-store'
    const sku = typeof filters.sku === 'string' ? filters.sku : 'SAMPLE-SKU'
    const quantity = Math.max(typeof filters.minQuantity === 'number' ? filters.minQuantity : 1, 12)
    return {
      eventId: ids.eventId, eventType: GOODS_RECEIVED, occurredAt: at, receiptId: ids.objectId, storeId,
      storeName: storeId === 'sample-store' ? 'Sample store' : storeId, supplier: 'Arrivals test notification',
      receivedAt: at, items: [{ sku, name: 'Sample product', quantity, unit: 'case' }], totalQuantity: quantity,
    }
  },
  filters: [
    storeFilter('goods received'),
    skuFilter('receipts'),
    {
      name: 'minQuantity',
      summary: 'Minimum quantity',
      description: 'Only receipts whose total quantity is at least this.',
      type: 'integer',
      constraints: { minimum: 1, maximum: limits.maxQuantity },
      visibility: 'advanced',
      match: { kind: 'at-least', field: 'totalQuantity' },
    },
  ],
  trigger: {
    path: '/v1/triggers/goods-received',
    operationId: 'WhenGoodsReceived',
    summary: 'When goods are received at a store',
    description: 'Starts the flow each time a store records a goods receipt that matches the filters.',
    hint: 'To see it work, record a goods receipt at one of your stores.',
    notificationDescription: 'The goods receipt that started the flow.',
  },
}

export const stockAdjusted: CatalogueEntry = {
  type: STOCK_ADJUSTED,
  event: StockAdjustedEventSchema,
  data: StockAdjustedData,
  notification: StockAdjustedNotification,
  toNotification({ id, type, time, data }: StockAdjustedEvent): StockAdjustedNotification {
    return {
      eventId: id,
      eventType: type,
      occurredAt: time,
      adjustmentId: data.adjustmentId,
      storeId: data.storeId,
      storeName: data.storeName,
      reason: data.reason,
      note: data.note ?? '',
      adjustedAt: data.adjustedAt,
      items: data.items.map(({ sku, name, quantityDelta, unit }) => ({ sku, name: name ?? '', quantityDelta, unit: unit ?? '' })),
      netQuantityDelta: data.netQuantityDelta,
    }
  },
  sample(filters, at, ids) {
    const storeId = typeof filters.storeId === 'string' ? filters.storeId : 'sample-store'
    const sku = typeof filters.sku === 'string' ? filters.sku : 'SAMPLE-SKU'
    const reason = adjustmentReasons.find((known) => known === filters.reason) ?? 'damaged'
    return {
      eventId: ids.eventId, eventType: STOCK_ADJUSTED, occurredAt: at, adjustmentId: ids.objectId, storeId,
      storeName: storeId === 'sample-store' ? 'Sample store' : storeId, reason, note: 'Arrivals test notification',
      adjustedAt: at, items: [{ sku, name: 'Sample product', quantityDelta: -2, unit: 'case' }], netQuantityDelta: -2,
    }
  },
  refine(data: StockAdjustedData) {
    const index = zeroDeltaItem(data.items)
    return index === undefined ? undefined : { path: `/items/${index}/quantityDelta`, message: 'must not be 0 (a change of nothing is not an adjustment)' }
  },
  filters: [
    storeFilter('adjustments'),
    {
      name: 'reason',
      summary: 'Reason',
      description: 'Only adjustments with this reason; leave empty for every reason.',
      type: 'string',
      constraints: { enum: [...adjustmentReasons] },
      visibility: 'important',
      dropdown: 'enum',
      match: { kind: 'equals', field: 'reason' },
    },
    skuFilter('adjustments'),
  ],
  trigger: {
    path: '/v1/triggers/stock-adjusted',
    operationId: 'WhenStockAdjusted',
    summary: 'When stock is adjusted at a store',
    description: 'Starts the flow each time a store records a stock adjustment that matches the filters.',
    hint: 'To see it work, record a stock adjustment at one of your stores.',
    notificationDescription: 'The stock adjustment that started the flow.',
  },
}

/** Every event type, in the order the connector lists its triggers. */
export const catalogue: readonly CatalogueEntry[] = [goodsReceived, stockAdjusted]

const byType = new Map(catalogue.map((entry) => [entry.type, entry]))

export function catalogueEntry(type: unknown): CatalogueEntry | undefined {
  return typeof type === 'string' ? byType.get(type) : undefined
}

/** Every routing key the dispatcher binds. */
export const eventTypes: readonly string[] = catalogue.map((entry) => entry.type)

/**
 * Whether an event's data passes a subscription's filters other than the store (the store is the
 * dispatcher's index). Absent filters match everything.
 */
export function matchesFilters(entry: CatalogueEntry, filters: Readonly<Record<string, unknown>>, data: Readonly<Record<string, unknown>>): boolean {
  for (const filter of entry.filters) {
    const wanted = filters[filter.name]
    if (wanted === undefined) continue
    const { match } = filter
    switch (match.kind) {
      case 'store':
        if (data.storeId !== wanted) return false
        break
      case 'any-item-sku':
        if (!(data.items as readonly { sku: string }[]).some((item) => item.sku === wanted)) return false
        break
      case 'equals':
        if (data[match.field] !== wanted) return false
        break
      case 'at-least':
        if ((data[match.field] as number) < (wanted as number)) return false
        break
    }
  }
  return true
}

const checks = new Map(catalogue.map((entry) => [entry.type, TypeCompiler.Compile(entry.event)]))

/** The compiled check of an entry's CloudEvent schema. */
export function eventCheck(entry: CatalogueEntry) {
  return checks.get(entry.type)!
}
