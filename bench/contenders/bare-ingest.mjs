// The ingest ceiling: a bare fastify route that builds the same GoodsReceived event and publishes it with
// a publisher confirm, answering 202 once confirmed. No API key, no validation beyond JSON, no store
// catalogue, no idempotency, no metrics: what the HTTP + confirmed-publish part alone costs here.
import amqp from 'amqplib'
import Fastify from 'fastify'
import { goodsReceivedEvent, topologyNames } from '@arrivals/contracts'

const namespace = process.env.BENCH_NAMESPACE
const port = Number(process.env.PORT)
const exchange = topologyNames(namespace).eventsExchange
const connection = await amqp.connect(process.env.AMQP_URL)
const channel = await connection.createConfirmChannel()
const app = Fastify({ logger: false })
let n = 0

app.post('/v1/stores/:storeId/receipts', async (request, reply) => {
  const { storeId } = request.params
  const body = request.body
  n += 1
  const event = goodsReceivedEvent({
    tenantId: 'bench-tenant',
    source: 'urn:bench:bare',
    data: {
      receiptId: body.receiptId ?? `rcpt-${process.pid}-${n}`, storeId, storeName: body.storeName ?? storeId, supplier: body.supplier,
      receivedAt: new Date().toISOString(), items: body.items, totalQuantity: body.items.reduce((sum, item) => sum + item.quantity, 0),
    },
  })
  await new Promise((resolve, reject) => {
    channel.publish(exchange, event.type, Buffer.from(JSON.stringify(event)), { persistent: true, mandatory: true, contentType: 'application/cloudevents+json' },
      (error) => (error ? reject(error) : resolve()))
  })
  return reply.code(202).send({ eventId: event.id, receiptId: event.data.receiptId })
})

await app.listen({ port, host: '127.0.0.1' })
process.send?.({ ready: true })
process.once('SIGTERM', () => {
  app.close().then(() => connection.close()).then(() => process.exit(0), () => process.exit(1))
})
