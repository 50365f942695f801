import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { goodsReceivedEvent, totalQuantity } from '@arrivals/contracts'
import { recordEvent, type PublishSettings } from '../record-event.js'
import { ReceiptRoute } from '../schemas/receipts.js'

const receipts: FastifyPluginAsyncTypebox<PublishSettings> = async (app, settings) => {
  app.post('/v1/stores/:storeId/receipts', { schema: ReceiptRoute }, async (request, reply) => {
    const body = request.body
    return recordEvent(app, request, reply, settings, { kind: { noun: 'receipt', idPrefix: 'rcpt' }, objectId: body.receiptId, storeName: body.storeName, timeField: 'receivedAt', event: goodsReceivedEvent,
      data: ({ objectId, storeId, storeName }) => ({
        receiptId: objectId,
        storeId,
        storeName,
        supplier: body.supplier,
        receivedAt: body.receivedAt ?? new Date().toISOString(),
        items: body.items,
        totalQuantity: totalQuantity(body.items),
      }),
    })
  })
}

export default receipts
