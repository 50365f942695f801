import type { Cluster, Redis } from 'ioredis'
import type { DeliveryTask } from '@arrivals/contracts'
import { keyLayoutOf } from '@arrivals/contracts'
import { historyLimits, orderAndPaceKeys, type OrderAndPaceKeys } from './layout.js'
import type { ChangeWatch, RedisClient } from './subscriptions.js'

// The field of the tasks hash that names the delivery being handed the turn (no deliveryId is spelled so).
const HANDOFF = 'handoff'

// KEYS: queue, tasks. ARGV: deliveryId, task JSON, ttl ms.
// Appends the delivery behind the store's earlier ones, unless it is there already (an event fanned
// out again after a crash): {'head'|'queued', length}. The head is the one to send now.
const ENQUEUE = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 or redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
  local position = redis.call('LINDEX', KEYS[1], 0) == ARGV[1] and 'head' or 'queued'
  return {position, redis.call('LLEN', KEYS[1])}
end
local length = redis.call('RPUSH', KEYS[1], ARGV[1])
if length > 1 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {length == 1 and 'head' or 'queued', length}
`

// KEYS: queue, tasks. ARGV: deliveryId. 'head' (also the one being handed the turn: its message may
// arrive before the finished head is removed), 'queued' (behind another: a stale copy) or 'absent'
// (done, or never known).
const POSITION = `
local position = redis.call('LPOS', KEYS[1], ARGV[1])
if position == 0 then return 'head' end
if position == 1 and redis.call('HGET', KEYS[2], '${HANDOFF}') == ARGV[1] then return 'head' end
if position then return 'queued' end
return 'absent'
`

// KEYS: queue, tasks. ARGV: deliveryId, the next deliveryId the caller already published ('' for none).
// Removes the head once the caller has published the one behind it: {'released'} when it did (or the
// delivery was not the head: nothing to do), {'next', id, json} when another one is behind it that the
// caller must publish first (then call again with its id); that one is marked as handed the turn, so
// it may go even if its message arrives before the head is removed. Publishing before removing means
// a crash in between leaves a duplicate, never a store whose head no message stands for.
// A delivery handed the turn may finish before the head that handed it over is removed: it removes
// that head itself and goes on as the head.
const RELEASE = `
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then
  if redis.call('LINDEX', KEYS[1], 1) ~= ARGV[1] or redis.call('HGET', KEYS[2], '${HANDOFF}') ~= ARGV[1] then return {'released'} end
  redis.call('LPOP', KEYS[1])
  redis.call('HDEL', KEYS[2], ARGV[1], '${HANDOFF}')
end
local next = redis.call('LINDEX', KEYS[1], 1)
-- A waiting delivery whose task is missing (removed by hand?) is dropped rather than blocking its store.
while next and next ~= ARGV[2] and redis.call('HEXISTS', KEYS[2], next) == 0 do
  redis.call('LREM', KEYS[1], 1, next)
  next = redis.call('LINDEX', KEYS[1], 1)
end
if next and next ~= ARGV[2] then
  redis.call('HSET', KEYS[2], '${HANDOFF}', next)
  return {'next', next, redis.call('HGET', KEYS[2], next)}
end
redis.call('LPOP', KEYS[1])
if next then redis.call('HDEL', KEYS[2], next, '${HANDOFF}') end
return {'released'}
`

// KEYS: budget, pause. ARGV: now, want, limit, window ms, short hold ms, long hold ms, reservation id,
// refund member, refund count.
// Reserves up to `want` of the window's budget for one replica: {granted, pausedUntil, freesAt, hold}.
// A reservation counts for the window plus the time the replica may spend it (its hold): a long hold
// while the budget is plainly not near (a quarter of it used, this reservation included), so a quiet
// subscription is not asked about for a window; a short one otherwise. A refund first gives back what
// a replica's previous reservation left unused (same expiry, smaller count). Over the limit: nothing
// granted, and when the earliest reservation stops counting.
const RESERVE = `
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
local pausedUntil = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[8] ~= '' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[8])
  if score then
    redis.call('ZREM', KEYS[1], ARGV[8])
    if tonumber(ARGV[9]) > 0 then redis.call('ZADD', KEYS[1], score, (string.gsub(ARGV[8], ':%d+$', ':' .. ARGV[9]))) end
  end
end
if pausedUntil > now then return {0, pausedUntil, 0, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local used = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do used = used + tonumber(string.match(member, ':(%d+)$')) end
local free = limit - used
if free <= 0 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, 0, tonumber(first[2]), 0}
end
local granted = math.min(tonumber(ARGV[2]), free)
local hold = tonumber(ARGV[5])
if (used + granted) * 4 <= limit then hold = tonumber(ARGV[6]) end
local countsFor = tonumber(ARGV[4]) + hold
redis.call('ZADD', KEYS[1], now + countsFor, ARGV[7] .. ':' .. granted)
if redis.call('PTTL', KEYS[1]) < countsFor then redis.call('PEXPIRE', KEYS[1], countsFor) end
return {granted, 0, 0, hold}
`

// KEYS: pause. ARGV: until ms, ttl ms, channel, message. Keeps the later of two pauses.
const PAUSE = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`

export type OrderPosition = 'head' | 'queued'

/**
 * Ordered delivery per (subscription, store): a queue in Redis whose head is the delivery being made.
 * Only the head ever has a broker message (a task, a retry waiting in a tier, or an event being fanned
 * out); the others wait here, and whoever finishes the head publishes the next one.
 */
export interface DeliveryOrder {
  /** Queues the delivery behind the store's earlier ones; `head` means it goes now. */
  enqueue(task: DeliveryTask & { orderKey: string }): Promise<{ position: OrderPosition; length: number }>
  /** Where a delivery stands: `absent` once it was released (a late copy), or when Redis lost it. */
  position(task: DeliveryTask & { orderKey: string }): Promise<OrderPosition | 'absent'>
  /**
   * Finishes the head (delivered, dead-lettered, skipped): `publish` is called with the delivery behind
   * it, which is only then removed from the queue; no-op when `task` is not the head.
   */
  release(task: DeliveryTask & { orderKey: string }, publish: (next: DeliveryTask) => Promise<void>): Promise<void>
}

/** One reservation of a subscription's flow budget. */
export interface BudgetGrant {
  granted: number
  /** How long (ms) the replica may spend what was granted (0 when nothing was). */
  holdMs: number
  /** Set when a receiver's 429 paused the subscription until then (ms). */
  pausedUntil?: number
  /** Set when nothing was granted: when the earliest reservation stops counting (ms). */
  freesAt?: number
}

export interface BudgetRequest {
  want: number
  limit: number
  windowMs: number
  /** How long a replica may spend a share near the limit, and (`longHoldMs`) while it is plainly not near. */
  holdMs: number
  longHoldMs: number
  /** This reservation's id (unique per replica and reservation). */
  id: string
  /** What the previous reservation left unused, given back in the same step. */
  refund?: { id: string; granted: number; unused: number }
}

/** The flow rate shared by every replica: budget reservations and receivers' pauses. */
export interface FlowBudgets {
  reserve(tenantId: string, subscriptionId: string, request: BudgetRequest, nowMs?: number): Promise<BudgetGrant>
  /** Pauses the subscription on every replica until `untilMs` (a later pause wins). */
  pause(tenantId: string, subscriptionId: string, untilMs: number, nowMs?: number): Promise<void>
  /** Calls `listener` for every pause any replica makes, on a connection of its own. */
  watchPauses(listener: (pause: { tenantId: string; subscriptionId: string; untilMs: number }) => void, options?: { onError?: (error: Error) => void }): ChangeWatch
}

export interface OrderAndPace {
  order: DeliveryOrder
  budgets: FlowBudgets
}

/** Ordered delivery and the flow rate in Redis; like the registry, it holds nothing but the client. */
export function createOrderAndPace({ redis, namespace }: { redis: RedisClient; namespace: string }): OrderAndPace {
  const keys = orderAndPaceKeys(namespace, keyLayoutOf(redis))
  return { order: deliveryOrder(redis, keys), budgets: flowBudgets(redis, keys) }
}

function deliveryOrder(redis: RedisClient, keys: OrderAndPaceKeys): DeliveryOrder {
  const queueKeys = (task: DeliveryTask & { orderKey: string }) =>
    [keys.orderQueue(task.tenantId, task.subscriptionId, task.orderKey), keys.orderTasks(task.tenantId, task.subscriptionId, task.orderKey)] as const
  return {
    async enqueue(task) {
      const [position, length] = await redis.eval(ENQUEUE, 2, ...queueKeys(task), task.deliveryId, JSON.stringify(task), historyLimits.historyTtlMs) as [OrderPosition, number]
      return { position, length }
    },

    async position(task) {
      return await redis.eval(POSITION, 2, ...queueKeys(task), task.deliveryId) as OrderPosition | 'absent'
    },

    async release(task, publish) {
      let published = ''
      for (;;) {
        const answer = await redis.eval(RELEASE, 2, ...queueKeys(task), task.deliveryId, published) as [string, string?, string?]
        if (answer[0] === 'released') return
        const [, id, json] = answer
        await publish(JSON.parse(json!) as DeliveryTask)
        published = id!
      }
    },
  }
}

function flowBudgets(redis: RedisClient, keys: OrderAndPaceKeys): FlowBudgets {
  return {
    async reserve(tenantId, subscriptionId, request, nowMs = Date.now()) {
      const { refund } = request
      const [granted, pausedUntil, freesAt, holdMs] = await redis.eval(RESERVE, 2, keys.flowBudget(tenantId, subscriptionId), keys.flowPause(tenantId, subscriptionId),
        nowMs, request.want, request.limit, request.windowMs, request.holdMs, request.longHoldMs, request.id,
        refund ? `${refund.id}:${refund.granted}` : '', refund ? refund.granted - refund.unused : 0) as [number, number, number, number]
      const grant: BudgetGrant = { granted, holdMs }
      if (pausedUntil > 0) grant.pausedUntil = pausedUntil
      if (granted === 0 && freesAt > 0) grant.freesAt = freesAt
      return grant
    },

    async pause(tenantId, subscriptionId, untilMs, nowMs = Date.now()) {
      if (untilMs <= nowMs) return
      await redis.eval(PAUSE, 1, keys.flowPause(tenantId, subscriptionId), untilMs, Math.max(1, untilMs - nowMs), keys.flowPaused, `${tenantId} ${subscriptionId} ${untilMs}`)
    },

    watchPauses(listener, { onError = () => {} } = {}) {
      const subscriber: RedisClient = redis.isCluster ? (redis as Cluster).duplicate() : (redis as Redis).duplicate({ lazyConnect: false })
      subscriber.on('error', onError)
      subscriber.on('message', (channel: string, message: string) => {
        if (channel !== keys.flowPaused) return
        const [tenantId, subscriptionId, until] = message.split(' ')
        const untilMs = Number(until)
        if (tenantId && subscriptionId && Number.isFinite(untilMs)) listener({ tenantId, subscriptionId, untilMs })
      })
      subscriber.subscribe(keys.flowPaused).catch(onError)
      return {
        async close() {
          await subscriber.quit().catch(() => subscriber.disconnect())
        },
      }
    },
  }
}
