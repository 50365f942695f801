import type { AttemptRecord, DeadLetterRecord, SubscriptionRecord } from '@arrivals/contracts'
import type { SubscriptionRegistry } from './registry.js'
import { defaultSubscriptionQuotas, disabledRecord, enabledRecord, quotaExceeded, type Subscriptions, type SubscriptionsChanged } from './subscriptions.js'
import { historyLimits } from './layout.js'

/**
 * The registry in memory, for unit tests of its users: the same API and the same behaviour per
 * operation (the contract tests run against both), without Redis. Expiry is not modelled.
 */
export function createMemoryRegistry(): SubscriptionRegistry {
  const records = new Map<string, Map<string, string>>()
  const fingerprints = new Map<string, Map<string, string>>()
  const versions = new Map<string, number>()
  const listeners = new Set<(change: SubscriptionsChanged) => void>()
  const attempts = new Map<string, string[]>()
  const failures = new Map<string, { count: number; sinceMs: number }>()
  const deadLetters = new Map<string, Map<string, { json: string; atMs: number }>>()
  let withoutTenant: string[] = []

  const of = <V>(map: Map<string, Map<string, V>>, tenantId: string) => {
    let inner = map.get(tenantId)
    if (!inner) map.set(tenantId, (inner = new Map()))
    return inner
  }
  const historyKey = (tenantId: string, subscriptionId: string) => `${tenantId}\u0000${subscriptionId}`
  const parse = (json: string) => JSON.parse(json) as SubscriptionRecord

  /** A change of the tenant; of one subscription when `record` is given (the signal names it, as the scripts' does). */
  function changed(tenantId: string, record?: SubscriptionRecord): void {
    versions.set(tenantId, (versions.get(tenantId) ?? 0) + 1)
    const change: SubscriptionsChanged = record
      ? { tenantId, subscription: { id: record.id, eventType: record.eventType, storeId: record.filters.storeId } }
      : { tenantId }
    // Like a PUBLISH: heard after the write, never during it.
    for (const listener of listeners) queueMicrotask(() => listener(change))
  }

  function write(record: SubscriptionRecord): SubscriptionRecord {
    of(records, record.tenantId).set(record.id, JSON.stringify(record))
    changed(record.tenantId, record)
    return record
  }

  /** The ids the Redis index set of this event type and store holds (there: a set kept by the scripts). */
  function indexed(tenantId: string, eventType: string, storeId: string | undefined): string[] {
    const ids: string[] = []
    for (const [id, json] of records.get(tenantId) ?? []) {
      let record: SubscriptionRecord
      try {
        record = parse(json)
      } catch {
        continue
      }
      if (record.eventType === eventType && record.filters.storeId === storeId) ids.push(id)
    }
    return ids
  }

  const subscriptions: Subscriptions = {
    async create(record, quotas = defaultSubscriptionQuotas) {
      const existing = of(fingerprints, record.tenantId).get(record.fingerprint)
      if (existing !== undefined && of(records, record.tenantId).has(existing)) return { created: false, id: existing }
      const stored = [...of(records, record.tenantId).values()].map(parse)
      if (stored.length >= quotas.subscriptions) throw quotaExceeded('subscriptions', quotas.subscriptions, record.filters.storeId)
      if (stored.filter((other) => other.filters.storeId === record.filters.storeId).length >= quotas.subscriptionsPerStore) {
        throw quotaExceeded('subscriptions-per-store', quotas.subscriptionsPerStore, record.filters.storeId)
      }
      of(fingerprints, record.tenantId).set(record.fingerprint, record.id)
      write(record)
      return { created: true }
    },
    async get(tenantId, id) {
      const json = records.get(tenantId)?.get(id)
      return json === undefined ? undefined : parse(json)
    },
    async getStored(tenantId, id) {
      return records.get(tenantId)?.get(id)
    },
    async getStoredMany(tenantId, ids) {
      return ids.map((id) => records.get(tenantId)?.get(id))
    },
    async candidates(tenantId, eventType, storeIds) {
      return storeIds.map((storeId) => {
        const ids = indexed(tenantId, eventType, storeId)
        return { ids, records: ids.map((id) => records.get(tenantId)?.get(id)) }
      })
    },
    async ensureIndexed() {
      // Every record here is indexed as it is written (only Redis can hold records from before the index).
      return false
    },
    async idByFingerprint(tenantId, fingerprint) {
      return fingerprints.get(tenantId)?.get(fingerprint)
    },
    async list(tenantId, { cursor = '0', limit }) {
      const all = [...(records.get(tenantId)?.values() ?? [])]
      const start = Number(cursor)
      const items = all.slice(start, start + limit).map(parse)
      return start + limit < all.length ? { items, nextCursor: String(start + limit) } : { items }
    },
    async* scan(tenantId, pageSize = 1_000) {
      const all = [...(records.get(tenantId)?.entries() ?? [])]
      for (let start = 0; start === 0 || start < all.length; start += pageSize) yield all.slice(start, start + pageSize)
    },
    async version(tenantId) {
      const version = versions.get(tenantId)
      return version === undefined ? null : String(version)
    },
    async update(tenantId, id, change) {
      const current = await subscriptions.get(tenantId, id)
      if (!current) return undefined
      const next = change(current)
      return next ? write(next) : current
    },
    enable(tenantId, id, now = new Date()) {
      return subscriptions.update(tenantId, id, (current) => enabledRecord(current, now))
    },
    disable(tenantId, id, reason, now = new Date()) {
      return subscriptions.update(tenantId, id, (current) => disabledRecord(current, reason, now))
    },
    async disableAfterFailures(tenantId, id, reason, now = new Date()) {
      const current = await subscriptions.get(tenantId, id)
      const next = current && disabledRecord(current, reason, now)
      if (!next) return false
      failures.delete(historyKey(tenantId, id))
      write(next)
      return true
    },
    async remove(tenantId, id) {
      const json = records.get(tenantId)?.get(id)
      if (json === undefined) return false
      records.get(tenantId)!.delete(id)
      let removed: SubscriptionRecord | undefined
      try {
        removed = parse(json)
        if (fingerprints.get(tenantId)?.get(removed.fingerprint) === id) fingerprints.get(tenantId)!.delete(removed.fingerprint)
      } catch {
        // Not JSON: removed all the same.
      }
      attempts.delete(historyKey(tenantId, id))
      failures.delete(historyKey(tenantId, id))
      changed(tenantId, removed)
      return true
    },
    async importAll(list) {
      const tenants = new Set<string>()
      for (const record of list) {
        tenants.add(record.tenantId)
        of(records, record.tenantId).set(record.id, JSON.stringify(record))
        of(fingerprints, record.tenantId).set(record.fingerprint, record.id)
      }
      for (const tenantId of tenants) changed(tenantId)
    },
    watch(listener) {
      listeners.add(listener)
      queueMicrotask(() => listener({ tenantId: undefined }))
      return {
        async close() {
          listeners.delete(listener)
        },
      }
    },
  }

  function parkWithoutTenant(record: DeadLetterRecord) {
    withoutTenant = [JSON.stringify(record), ...withoutTenant].slice(0, historyLimits.pipelineDeadLetters)
  }

  function sortedDeadLetters(tenantId: string) {
    return [...(deadLetters.get(tenantId)?.entries() ?? [])].sort(([, a], [, b]) => a.atMs - b.atMs)
  }

  return {
    subscriptions,
    attempts: {
      async write({ records: batch, succeeded }) {
        for (const { tenantId, subscriptionId, attempts: list } of batch) {
          const key = historyKey(tenantId, subscriptionId)
          const newestFirst = [...list].reverse().map((record) => JSON.stringify(record))
          attempts.set(key, [...newestFirst, ...(attempts.get(key) ?? [])].slice(0, historyLimits.attemptsPerSubscription))
        }
        for (const { tenantId, subscriptionId } of succeeded) failures.delete(historyKey(tenantId, subscriptionId))
      },
      async list(tenantId, subscriptionId, limit) {
        return (attempts.get(historyKey(tenantId, subscriptionId)) ?? []).slice(0, limit).map((json) => JSON.parse(json) as AttemptRecord)
      },
    },
    failures: {
      async record(tenantId, subscriptionId, nowMs = Date.now()) {
        const key = historyKey(tenantId, subscriptionId)
        const streak = failures.get(key) ?? { count: 0, sinceMs: nowMs }
        streak.count += 1
        failures.set(key, streak)
        return { ...streak }
      },
      async clear(tenantId, subscriptionId) {
        failures.delete(historyKey(tenantId, subscriptionId))
      },
    },
    deadLetters: {
      async archive(record, now = new Date()) {
        if (!record.tenantId) {
          parkWithoutTenant(record)
          return
        }
        const archive = of(deadLetters, record.tenantId)
        archive.set(record.id, { json: JSON.stringify(record), atMs: now.getTime() })
        const oldestKept = now.getTime() - historyLimits.deadLetterMaxAgeMs
        const byAge = sortedDeadLetters(record.tenantId)
        for (const [id, { atMs }] of byAge) if (atMs < oldestKept) archive.delete(id)
        const over = archive.size - historyLimits.deadLettersPerTenant
        if (over > 0) for (const [id] of sortedDeadLetters(record.tenantId).slice(0, over)) archive.delete(id)
      },
      async park(record) {
        parkWithoutTenant(record)
      },
      async list(tenantId, { limit, offset, subscriptionId }) {
        return sortedDeadLetters(tenantId).reverse()
          .map(([, { json }]) => JSON.parse(json) as DeadLetterRecord)
          .filter((record) => subscriptionId === undefined || record.subscriptionId === subscriptionId)
          .slice(offset, offset + limit)
      },
      async since(tenantId, subscriptionId, sinceMs) {
        return sortedDeadLetters(tenantId).filter(([, { atMs }]) => atMs >= sinceMs)
          .map(([, { json }]) => JSON.parse(json) as DeadLetterRecord)
          .filter((record) => record.subscriptionId === subscriptionId)
      },
      async scanSince(tenantId, subscriptionId, sinceMs, examine) {
        const from = sortedDeadLetters(tenantId).filter(([, { atMs }]) => atMs >= sinceMs)
        const lastMs = from.length > examine ? from[examine - 1]![1].atMs : undefined
        const examined = lastMs === undefined ? from : from.filter(([, { atMs }]) => atMs <= lastMs)
        const records = examined.map(([, { json }]) => JSON.parse(json) as DeadLetterRecord).filter((record) => record.subscriptionId === subscriptionId)
        return lastMs === undefined ? { records } : { records, nextSinceMs: lastMs + 1 }
      },
      async get(tenantId, id) {
        const entry = deadLetters.get(tenantId)?.get(id)
        return entry ? JSON.parse(entry.json) as DeadLetterRecord : undefined
      },
      async remove(tenantId, ids) {
        let removed = 0
        for (const id of new Set(ids)) if (deadLetters.get(tenantId)?.delete(id)) removed += 1
        return removed
      },
      async listWithoutTenant(limit) {
        return withoutTenant.slice(0, limit).map((json) => JSON.parse(json) as DeadLetterRecord)
      },
    },
  }
}
