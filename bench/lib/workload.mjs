// What every contender is given: the same subscriptions (callback URL, Standard Webhooks secret, filters)
// and the same GoodsReceived events. Arrivals reads the subscriptions from Redis, sealed in the pinned
// SubscriptionRecord shape; the references get them in plain from a file, as a team's config would.
import { randomBytes } from 'node:crypto'
import {
  createSecretBox,
  goodsReceivedEvent,
  parseEncryptionKey,
  redactUrl,
  redisKeys,
  sealingContext,
} from '@arrivals/contracts'

export const BENCH_TENANT = 'bench-tenant'
const EVENT_TYPE = 'inventory.goods-received.v1'

/**
 * @typedef {{ id: string, url: string, secret: string, storeId?: string }} BenchSubscription
 */

/** One subscription per URL; with `byStore`, subscription i only matches events of store `store-i`. */
export function makeSubscriptions(urls, { byStore = false } = {}) {
  return urls.map((url, i) => ({
    id: `sub_${randomBytes(16).toString('base64url')}`,
    url,
    secret: `whsec_${randomBytes(24).toString('base64')}`,
    ...(byStore ? { storeId: storeOf(i) } : {}),
  }))
}

export const storeOf = (i) => `store-${i}`

/** Event k of a run; `storeId` decides which subscriptions match it. */
export function makeEvent(runId, k, storeId = 'store-0') {
  const now = new Date().toISOString()
  return goodsReceivedEvent({
    id: `evt-${runId}-${k}`,
    tenantId: BENCH_TENANT,
    source: '/bench/publisher',
    data: {
      receiptId: `rcpt-${k}`,
      storeId,
      storeName: `Store ${storeId}`,
      supplier: 'Bench Supplies Ltd',
      receivedAt: now,
      items: [
        { sku: 'SKU-1001', name: 'Oat milk 1 l', quantity: 24, unit: 'case' },
        { sku: 'SKU-2002', name: 'Espresso beans 1 kg', quantity: 6, unit: 'bag' },
      ],
      totalQuantity: 30,
    },
  })
}

/**
 * Writes the subscriptions into Redis exactly as the subscriptions service does (records, fingerprints,
 * one version bump and the change notification), so the dispatcher reads what it reads in production.
 */
export async function seedSubscriptions(redis, namespace, encryptionKey, subscriptions) {
  const keys = redisKeys(namespace)
  const box = createSecretBox(parseEncryptionKey(encryptionKey))
  const now = new Date().toISOString()
  const chunk = 2_000
  for (let start = 0; start < subscriptions.length; start += chunk) {
    const pipeline = redis.pipeline()
    for (const sub of subscriptions.slice(start, start + chunk)) {
      const filters = sub.storeId ? { storeId: sub.storeId } : {}
      const fingerprint = box.fingerprint(JSON.stringify({ url: sub.url, filters }))
      /** @type {import('@arrivals/contracts').SubscriptionRecord} */
      const record = {
        id: sub.id,
        tenantId: BENCH_TENANT,
        eventType: EVENT_TYPE,
        callbackSealed: box.seal(sub.url, sealingContext.callback(BENCH_TENANT, sub.id)),
        callbackRedacted: redactUrl(sub.url),
        fingerprint,
        secretSealed: box.seal(sub.secret, sealingContext.secret(BENCH_TENANT, sub.id)),
        filters,
        status: 'active',
        flow: { platform: 'api', workflowName: 'bench' },
        createdAt: now,
        updatedAt: now,
      }
      pipeline.hset(keys.subscriptions(BENCH_TENANT), sub.id, JSON.stringify(record))
      pipeline.hset(keys.fingerprints(BENCH_TENANT), fingerprint, sub.id)
    }
    await pipeline.exec()
  }
  await redis.multi().incr(keys.version(BENCH_TENANT)).exec()
  await redis.publish(keys.subscriptionsChanged, BENCH_TENANT)
}
