import { Type, type Static } from '@sinclair/typebox'
import { CloudEvent } from './cloud-event.js'
import { GOODS_RECEIVED, GoodsReceivedData } from './goods-received.js'
import { STOCK_ADJUSTED, StockAdjustedData } from './stock-adjusted.js'

export const GoodsReceivedEvent = CloudEvent(GOODS_RECEIVED, GoodsReceivedData)
export type GoodsReceivedEvent = Static<typeof GoodsReceivedEvent>

export const StockAdjustedEvent = CloudEvent(STOCK_ADJUSTED, StockAdjustedData)
export type StockAdjustedEvent = Static<typeof StockAdjustedEvent>

export const ArrivalsEvent = Type.Union([GoodsReceivedEvent, StockAdjustedEvent])
export type ArrivalsEvent = Static<typeof ArrivalsEvent>
