// Reference (d), a diagnostic: the bare loop with Arrivals' shape, two broker hops. Stage 1 consumes an
// event and publishes one task per matching subscription to a second quorum queue, acking the event only
// once every task is confirmed; stage 2 consumes a task → POST → ack. Against the one-hop loop it prices
// the second hop on this machine; against Arrivals it shows what the dispatcher itself costs.
import amqp from 'amqplib'
import { bareQueue, bareTaskQueue } from '../lib/namespace.mjs'
import { createWebhookSender, runWorker, workerSettings } from './webhook-sender.mjs'

const settings = workerSettings()
const sender = createWebhookSender(settings)
const connection = await amqp.connect(settings.amqpUrl)
const tasksQueue = bareTaskQueue(settings.namespace)

const fanOut = await connection.createConfirmChannel()
await fanOut.assertQueue(tasksQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } })
await fanOut.prefetch(settings.concurrency)
const confirmedTask = (subscriptionId, event) => new Promise((resolve, reject) => {
  fanOut.sendToQueue(tasksQueue, Buffer.from(JSON.stringify({ subscriptionId, event })), { persistent: true }, (error) => (error ? reject(error) : resolve()))
})
const events = await fanOut.consume(bareQueue(settings.namespace), (message) => {
  if (!message) return
  const event = JSON.parse(message.content.toString('utf8'))
  Promise.all(sender.matching(event).map((sub) => confirmedTask(sub.id, event))).then(
    () => fanOut.ack(message),
    () => fanOut.nack(message, false, true),
  )
})

const deliver = await connection.createChannel()
await deliver.prefetch(settings.concurrency)
const tasks = await deliver.consume(tasksQueue, (message) => {
  if (!message) return
  const { subscriptionId, event } = JSON.parse(message.content.toString('utf8'))
  sender.deliverTo(subscriptionId, event).then(
    () => deliver.ack(message),
    () => deliver.nack(message, false, true),
  )
})

runWorker(async () => {
  await fanOut.cancel(events.consumerTag)
  await deliver.cancel(tasks.consumerTag)
  await sender.close()
  await connection.close()
})
