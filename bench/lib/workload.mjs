// What every contender is given: the same subscriptions (callback URL, Standard Webhooks secret, filters)
// and the same GoodsReceived events. Arrivals reads the subscriptions from Redis, sealed in the pinned
// SubscriptionRecord shape; the references get them in plain from a file, as a team's config would.
import { randomBytes } from 'node:crypto'
import { createSecretBox, goodsReceivedEvent, parseEncryptionKey } from '@arrivals/contracts'
import { createSubscriptionRegistry, newSubscriptionRecord } from '@arrivals/subscription-registry'

export const BENCH_TENANT = 'bench-tenant'

/**
 * @typedef {{ id: string, url: string, secret: string, storeId?: string }} BenchSubscription
 */

/**
 * One subscription per URL; with `byStore`, subscription i only matches events of store `store-i`;
 * with `ordered`, each delivers in order per store.
 */
export function makeSubscriptions(urls, { byStore = false, ordered = false } = {}) {
  return urls.map((url, i) => ({
    id: `sub_${randomBytes(16).toString('base64url')}`,
    url,
    secret: `whsec_${randomBytes(24).toString('base64')}`,
    ...(byStore ? { storeId: storeOf(i) } : {}),
    ...(ordered ? { ordered: true } : {}),
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
 * Writes the subscriptions into Redis exactly as the subscriptions service does (the registry's own
 * records, sealed and fingerprinted, then one version bump and the change signal), so the dispatcher
 * reads what it reads in production.
 */
export async function seedSubscriptions(redis, namespace, encryptionKey, subscriptions) {
  const box = createSecretBox(parseEncryptionKey(encryptionKey))
  const now = new Date()
  const records = subscriptions.map((sub) => newSubscriptionRecord(box, {
    tenantId: BENCH_TENANT,
    callbackUrl: sub.url,
    filters: sub.storeId ? { storeId: sub.storeId } : {},
    flow: { platform: 'api', workflowName: 'bench' },
    ordered: sub.ordered === true,
    id: sub.id,
    secret: sub.secret,
    now,
  }).record)
  await createSubscriptionRegistry({ redis, namespace }).subscriptions.importAll(records)
}
