import { createHash, randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { RedisClient } from '@arrivals/service-kit'
import { Counter } from 'prom-client'
import { inventoryKeys, keyLayoutOf } from '@arrivals/contracts'

declare module 'fastify' {
  interface FastifyInstance {
    idempotency: IdempotencyStore
  }
}

/** What is kept under `idempotency(tenantId, key)`. */
type IdempotencyRecord =
  /**
   * A request with this key is being processed (publishing). `token` names the request that owns it;
   * its short lease is renewed while that request lives, so one that died (its process, or Redis
   * under it) holds the key only until the lease runs out.
   */
  | { state: 'pending'; hash: string; token: string }
  /** The broker confirmed: the answer is replayed for the same body. */
  | { state: 'done'; hash: string; answer: unknown }
  /** The publish failed (503): the same body may try again, a different one is refused. */
  | { state: 'failed'; hash: string }

export type Claim =
  | {
    outcome: 'claimed'
    /** The broker confirmed: keep the answer for replays. */
    complete(answer: unknown): Promise<void>
    /** The publish failed (503): the same request may retry, a different one stays refused. */
    fail(): Promise<void>
    /** The request was refused before anything happened (4xx): the key is free again. */
    release(): Promise<void>
  }
  | { outcome: 'replay'; answer: unknown }
  | { outcome: 'conflict' }
  | { outcome: 'in-progress' }

export interface IdempotencyStore {
  /** Claims `key` for a request whose canonical form hashes to `hash`, or says why not. */
  claim(tenantId: string, key: string, hash: string): Promise<Claim>
}

// Atomically: take the key if it is free, or if an earlier attempt with the same body failed;
// otherwise return what is there. ARGV: pending record, its ttl (ms), request hash.
const CLAIM = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, record = pcall(cjson.decode, current)
  if ok and (record.state ~= 'failed' or record.hash ~= ARGV[3]) then return current end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`

// Replaces our own pending record (compare-and-set), so a slow request never overwrites a newer owner.
// ARGV: our pending record, the new record, its ttl (s).
const SETTLE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return false`

// Extends our own pending record's lease (compare-and-expire). ARGV: our pending record, lease (ms).
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`

// Deletes our own pending record (compare-and-delete). ARGV: our pending record.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`

/** SHA-256 of a JSON value with its object keys sorted, so key order and spacing do not matter. */
export function canonicalHash(value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical)
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
    }
    return v
  }
  return createHash('sha256').update(JSON.stringify(canonical(value))).digest('hex')
}

export interface IdempotencyOptions {
  namespace: string
  ttlSeconds: number
  /** How long a pending claim holds the key if its request dies; renewed while the request lives. */
  pendingLeaseMs: number
  /** The longest a request may hold its claim (renewals stop then): above any publish's confirm timeout. */
  pendingMaxMs: number
}

/** Renews the lease of a pending claim every third of it, until stopped or `maxMs` have passed. */
function keepLeased(renew: () => Promise<unknown>, leaseMs: number, maxMs: number): () => void {
  const until = Date.now() + maxMs
  const timer = setInterval(() => {
    if (Date.now() >= until) return clearInterval(timer)
    // A renewal that fails (Redis away) is no error of the request: the lease then simply runs out.
    renew().catch(() => {})
  }, Math.max(1, Math.floor(leaseMs / 3)))
  timer.unref()
  return () => clearInterval(timer)
}

export function idempotencyStore(redis: RedisClient, options: IdempotencyOptions, onResult: (result: Claim['outcome']) => void = () => {}): IdempotencyStore {
  const keys = inventoryKeys(options.namespace, keyLayoutOf(redis))
  return {
    async claim(tenantId, key, hash) {
      const redisKey = keys.idempotency(tenantId, key)
      const pending = JSON.stringify({ state: 'pending', hash, token: randomBytes(12).toString('base64url') } satisfies IdempotencyRecord)
      const current = await redis.eval(CLAIM, 1, redisKey, pending, options.pendingLeaseMs, hash) as string | null
      let claim: Claim
      if (current === null) {
        const stop = keepLeased(() => redis.eval(RENEW, 1, redisKey, pending, options.pendingLeaseMs), options.pendingLeaseMs, options.pendingMaxMs)
        const settle = (record: IdempotencyRecord) => {
          stop()
          return redis.eval(SETTLE, 1, redisKey, pending, JSON.stringify(record), options.ttlSeconds).then(() => {})
        }
        claim = {
          outcome: 'claimed',
          complete: (answer) => settle({ state: 'done', hash, answer }),
          fail: () => settle({ state: 'failed', hash }),
          release: () => {
            stop()
            return redis.eval(RELEASE, 1, redisKey, pending).then(() => {})
          },
        }
      } else {
        const record = JSON.parse(current) as IdempotencyRecord
        if (record.hash !== hash) claim = { outcome: 'conflict' }
        else if (record.state === 'done') claim = { outcome: 'replay', answer: record.answer }
        else claim = { outcome: 'in-progress' }
      }
      onResult(claim.outcome)
      return claim
    },
  }
}

export default fp(async (app: FastifyInstance, options: IdempotencyOptions) => {
  const results = new Counter({
    name: 'inventory_idempotency_total',
    help: 'Requests with an Idempotency-Key by result: claimed (processed), replay (first answer again), conflict (422), in-progress (409).',
    labelNames: ['result'] as const,
    registers: [app.metrics],
  })
  app.decorate('idempotency', idempotencyStore(app.redis, options, (result) => results.inc({ result })))
}, { name: 'idempotency', dependencies: ['redis', 'arrivals-operations'] })
