// Reference (b): what a Node team would pick instead of Arrivals: a BullMQ queue in Redis whose worker
// POSTs each webhook. Same concurrency as the others.
import { Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { BULLMQ_QUEUE } from '../lib/namespace.mjs'
import { createWebhookSender, runWorker, workerSettings } from './webhook-sender.mjs'

const settings = workerSettings()
const sender = createWebhookSender(settings)
// BullMQ's workers block on Redis; it requires maxRetriesPerRequest: null on their connection.
const connection = new Redis(settings.redisUrl, { maxRetriesPerRequest: null })
const worker = new Worker(BULLMQ_QUEUE, (job) => sender.deliver(job.data), {
  connection,
  prefix: settings.namespace,
  concurrency: settings.concurrency,
  // Keeps Redis from filling with finished jobs, as any production setup does.
  removeOnComplete: { count: 0 },
  removeOnFail: { count: 1000 },
})
worker.on('error', (error) => console.error('bullmq worker error', error.message))
await worker.waitUntilReady()
runWorker(async () => {
  await worker.close()
  await sender.close()
  connection.disconnect()
})
