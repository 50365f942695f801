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
 * One subscription per URL; with `byStore`, subscription i only matches events of store `store-i`, or with
 * `tenants` > 1, subscription i belongs to tenant `tenantOf(i % tenants)` and matches store `store-⌊i / tenants⌋`;
 * with `ordered`, each delivers in order per store.
 */
export function makeSubscriptions(urls, { byStore = false, tenants = 1, offset = 0, ordered = false } = {}) {
  return urls.map((url, n) => {
    const i = n + offset
    return {
      id: `sub_${randomBytes(16).toString('base64url')}`,
      url,
      secret: `whsec_${randomBytes(24).toString('base64')}`,
      ...(tenants > 1 ? { tenantId: tenantOf(i % tenants) } : {}),
      ...(byStore ? { storeId: storeOf(Math.floor(i / tenants)) } : {}),
      ...(ordered ? { ordered: true } : {}),
    }
  })
}

/** The tenant of the multi-tenant scale run's tenant number t (the first is the bench's usual tenant). */
export const tenantOf = (t) => (t === 0 ? BENCH_TENANT : `${BENCH_TENANT}-${t}`)

export const storeOf = (i) => `store-${i}`

/** Event k of a run; `storeId` decides which subscriptions match it. */
export function makeEvent(runId, k, storeId = 'store-0', tenantId = BENCH_TENANT) {
  const now = new Date().toISOString()
  return goodsReceivedEvent({
    id: `evt-${runId}-${k}`,
    tenantId,
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
    tenantId: sub.tenantId ?? BENCH_TENANT,
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

/**
 * Subscribes and unsubscribes in one tenant through the registry, as the connector API does (create with
 * the quota checks, then remove), `changesPerSecond` changes a second, until stopped; answers the count.
 */
export function startChurn({ redis, namespace, encryptionKey, tenantId, changesPerSecond, url }) {
  const box = createSecretBox(parseEncryptionKey(encryptionKey))
  const { subscriptions } = createSubscriptionRegistry({ redis, namespace })
  const quotas = { subscriptions: 10_000_000, subscriptionsPerStore: 10_000 }
  let changes = 0
  let created
  let stopped = false
  const loop = (async () => {
    const start = Date.now()
    while (!stopped) {
      if (created) {
        await subscriptions.remove(tenantId, created)
        created = undefined
      } else {
        const { record } = newSubscriptionRecord(box, {
          tenantId, callbackUrl: `${url}?n=${changes}`, filters: { storeId: storeOf(changes % 1000) }, flow: { platform: 'api', workflowName: 'churn' },
        })
        await subscriptions.create(record, quotas)
        created = record.id
      }
      changes += 1
      const due = start + (changes * 1000) / changesPerSecond
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())))
    }
  })()
  return {
    async stop() {
      stopped = true
      await loop
      return changes
    },
    /** Resolves once `count` changes were made, then stops. */
    async stopAfter(count) {
      while (changes < count) await new Promise((resolve) => setTimeout(resolve, 5))
      return this.stop()
    },
  }
}
