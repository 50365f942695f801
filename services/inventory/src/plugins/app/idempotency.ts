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
  /** A request with this key is being processed (publishing); it expires if the process dies. */
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
  /** How long a pending claim holds the key if its process dies mid-request. */
  pendingTtlMs: number
}

export function idempotencyStore(redis: RedisClient, options: IdempotencyOptions, onResult: (result: Claim['outcome']) => void = () => {}): IdempotencyStore {
  const keys = inventoryKeys(options.namespace, keyLayoutOf(redis))
  return {
    async claim(tenantId, key, hash) {
      const redisKey = keys.idempotency(tenantId, key)
      const pending = JSON.stringify({ state: 'pending', hash, token: randomBytes(12).toString('base64url') } satisfies IdempotencyRecord)
      const current = await redis.eval(CLAIM, 1, redisKey, pending, options.pendingTtlMs, hash) as string | null
      const settle = (record: IdempotencyRecord) => redis.eval(SETTLE, 1, redisKey, pending, JSON.stringify(record), options.ttlSeconds).then(() => {})
      let claim: Claim
      if (current === null) {
        claim = {
          outcome: 'claimed',
          complete: (answer) => settle({ state: 'done', hash, answer }),
          fail: () => settle({ state: 'failed', hash }),
          release: () => redis.eval(RELEASE, 1, redisKey, pending).then(() => {}),
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
