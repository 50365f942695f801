// The delivery step both references share, written the way a Node team would: match the event's
// subscriptions from config, sign each webhook (Standard Webhooks, same headers and webhook-id as
// Arrivals), POST it with undici over kept-alive connections, fail on anything but 2xx.
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Agent, request } from 'undici'
import { deliveryIdFor, toNotification } from '@arrivals/contracts'

export function createWebhookSender({ subscriptionsFile, concurrency }) {
  /** @type {import('../lib/workload.mjs').BenchSubscription[]} */
  const subscriptions = JSON.parse(readFileSync(subscriptionsFile, 'utf8')).map((sub) => ({
    ...sub,
    key: Buffer.from(sub.secret.slice('whsec_'.length), 'base64'),
  }))
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000, headersTimeout: 10_000, bodyTimeout: 10_000 })

  async function post(sub, event, body) {
    const id = deliveryIdFor(event.id, sub.id)
    const timestamp = Math.floor(Date.now() / 1000).toString()
    const signature = createHmac('sha256', sub.key).update(`${id}.${timestamp}.${body}`).digest('base64')
    const response = await request(sub.url, {
      method: 'POST',
      dispatcher: agent,
      body,
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': timestamp,
        'webhook-signature': `v1,${signature}`,
      },
    })
    await response.body.dump()
    if (response.statusCode < 200 || response.statusCode > 299) throw new Error(`webhook answered ${response.statusCode}`)
  }

  const matching = (event) => subscriptions.filter((sub) => !sub.storeId || sub.storeId === event.data.storeId)
  const byId = new Map(subscriptions.map((sub) => [sub.id, sub]))

  return {
    matching,
    /** Delivers one event to every matching subscription; rejects if any delivery failed. */
    async deliver(event) {
      const body = JSON.stringify(toNotification(event))
      await Promise.all(matching(event).map((sub) => post(sub, event, body)))
    },
    /** Delivers one event to one subscription (the second stage of a two-hop pipeline). */
    deliverTo(subscriptionId, event) {
      return post(byId.get(subscriptionId), event, JSON.stringify(toNotification(event)))
    },
    close: () => agent.close(),
  }
}

/** Settings of a reference worker process, from the environment the bench gives it. */
export function workerSettings() {
  const required = (name) => {
    const value = process.env[name]
    if (!value) throw new Error(`${name} is required`)
    return value
  }
  return {
    namespace: required('BENCH_NAMESPACE'),
    amqpUrl: required('AMQP_URL'),
    redisUrl: required('REDIS_URL'),
    concurrency: Number(required('BENCH_CONCURRENCY')),
    subscriptionsFile: required('BENCH_SUBSCRIPTIONS_FILE'),
  }
}

/** Tells the bench we consume, and shuts down cleanly on SIGTERM. */
export function runWorker(close) {
  process.send?.({ ready: true })
  process.once('SIGTERM', () => {
    close().then(() => process.exit(0), (error) => {
      console.error(error)
      process.exit(1)
    })
  })
}
