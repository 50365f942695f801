import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { netQuantityDelta, stockAdjustedEvent } from '@arrivals/contracts'
import { recordEvent, type PublishSettings } from '../record-event.js'
import { AdjustmentRoute } from '../schemas/adjustments.js'

const adjustments: FastifyPluginAsyncTypebox<PublishSettings> = async (app, settings) => {
  app.post('/v1/stores/:storeId/adjustments', { schema: AdjustmentRoute }, async (request, reply) => {
    const body = request.body
    return recordEvent(app, request, reply, settings, { kind: { noun: 'adjustment', idPrefix: 'adj' }, objectId: body.adjustmentId, storeName: undefined, timeField: 'adjustedAt', event: stockAdjustedEvent,
      data: ({ objectId, storeId, storeName }) => ({
        reason: body.reason, adjustmentId: objectId, storeId, storeName,
        ...(body.note === undefined ? {} : { note: body.note }),
        adjustedAt: body.adjustedAt ?? new Date().toISOString(),
        items: body.items,
        netQuantityDelta: netQuantityDelta(body.items),
      }),
    })
  })
}

export default adjustments
