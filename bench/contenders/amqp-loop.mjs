// Reference (c): the ceiling. A bare amqplib consumer: consume → POST → ack, prefetch = concurrency,
// nothing else (no fan-out stage, no retry tiers, no attempt history, no circuit breakers).
import amqp from 'amqplib'
import { bareQueue } from '../lib/namespace.mjs'
import { createWebhookSender, runWorker, workerSettings } from './webhook-sender.mjs'

const settings = workerSettings()
const sender = createWebhookSender(settings)
const connection = await amqp.connect(settings.amqpUrl)
const channel = await connection.createChannel()
await channel.prefetch(settings.concurrency)
const { consumerTag } = await channel.consume(bareQueue(settings.namespace), (message) => {
  if (!message) return
  sender.deliver(JSON.parse(message.content.toString('utf8'))).then(
    () => channel.ack(message),
    // Back to the queue for another try: the simplest retry there is.
    () => channel.nack(message, false, true),
  )
})
runWorker(async () => {
  await channel.cancel(consumerTag)
  await sender.close()
  await connection.close()
})
