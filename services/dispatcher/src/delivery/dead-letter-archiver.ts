import { deadLetterHeaders, historyLimits, parseDeliveryTask, type DeadLetterClass, type DeadLetterRecord, type RedisKeys } from '@arrivals/contracts'
import type { Redis } from 'ioredis'
import type { DispatcherMetrics } from './metrics.js'
import { newDeadLetterId, type BrokerMessage, type Verdict } from './task-queue.js'

/** Pipeline dead letters without a tenant are kept in one capped list. */
export const PIPELINE_DEAD_LETTERS_LIMIT = 1000
/** A pipeline dead letter keeps this much of the original body (enough to see what was wrong). */
const BODY_KEPT = 4096
const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/

// Writes one record and trims the tenant's archive by age and by size in the same step. Trimming only
// happens on a write, so both keys also expire one maximum age after the latest write: a tenant that
// stops getting dead letters does not keep its old ones forever.
const ARCHIVE = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
for _, id in ipairs(old) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1`

export interface ArchiverContext {
  redis: Redis
  keys: RedisKeys
  metrics: DispatcherMetrics
  infra<T>(operation: () => Promise<T>): Promise<T>
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  return undefined
}

function integer(value: unknown): number | undefined {
  const number = typeof value === 'number' ? value : typeof value === 'string' && value !== '' ? Number(value) : Number.NaN
  return Number.isInteger(number) ? number : undefined
}

interface XDeath { reason?: unknown; queue?: unknown; count?: unknown }

/** Why the broker dead-lettered a message itself (the delivery limit of a work queue: a poison message). */
function brokerReason(headers: Record<string, unknown>): { reason: string; count: number } {
  const deaths = Array.isArray(headers['x-death']) ? (headers['x-death'] as XDeath[]) : []
  // x-death is newest first: the latest death says why it is here now.
  const latest = deaths[0]
  const reason = text(latest?.reason) ?? text(headers['x-last-death-reason']) ?? text(headers['x-first-death-reason']) ?? 'unknown'
  const queue = text(latest?.queue) ?? text(headers['x-last-death-queue']) ?? 'a work queue'
  const count = integer(latest?.count) ?? 1
  const why = reason === 'delivery_limit' ? 'poison message: its consumer failed on it until the delivery limit' : `dead-lettered by the broker (${reason})`
  return { reason: `${why}; from ${queue}`, count }
}

/** Builds the archive record of one dead-lettered message (pure, for tests). */
export function toDeadLetterRecord(message: BrokerMessage, now = new Date()): DeadLetterRecord {
  const { headers } = message
  const ours = text(headers[deadLetterHeaders.class])
  const cls: DeadLetterClass = ours === 'endpoint' ? 'endpoint' : 'pipeline'
  const broker = ours ? undefined : brokerReason(headers)
  const taskParse = parseDeliveryTask(message.content)
  const task = taskParse.ok ? taskParse.task : undefined

  let tenantId: string | null = task?.tenantId ?? null
  let eventId: string | null = task?.eventId ?? null
  if (!task) {
    try {
      const body = JSON.parse(message.content.toString('utf8')) as Record<string, unknown>
      if (typeof body.tenantid === 'string') tenantId = body.tenantid
      else if (typeof body.tenantId === 'string') tenantId = body.tenantId
      if (typeof body.id === 'string') eventId = body.id.slice(0, 128)
      else if (typeof body.eventId === 'string') eventId = body.eventId.slice(0, 128)
    } catch {
      // Not JSON: nothing more to learn from the body.
    }
    tenantId ??= text(headers.tenantid) ?? null
  }
  if (tenantId !== null && !TENANT_ID.test(tenantId)) tenantId = null

  const messageId = message.messageId && /^dl_[A-Za-z0-9_-]{8,64}$/.test(message.messageId) ? message.messageId : newDeadLetterId()
  const record: DeadLetterRecord = {
    id: messageId,
    class: cls,
    tenantId,
    subscriptionId: task?.subscriptionId ?? null,
    eventId,
    reason: text(headers[deadLetterHeaders.reason]) ?? broker?.reason ?? 'dead-lettered',
    lastStatus: integer(headers[deadLetterHeaders.lastStatus]) ?? task?.lastStatus ?? null,
    attempts: integer(headers[deadLetterHeaders.attempts]) ?? task?.attempt ?? broker?.count ?? 0,
    deadLetteredAt: now.toISOString(),
  }
  if (task) record.task = task
  else record.body = message.content.toString('utf8').slice(0, BODY_KEPT)
  return record
}

/**
 * Consumes `<ns>.dead-letters` into Redis: tenant-scoped records (hash + time index, trimmed by age
 * and by count) that the subscriptions service lists and replays; records without a tenant go to a
 * capped list for the operators. The record id is the message id, so archiving twice (a crash between
 * the write and the ack) writes the same record.
 */
export async function archiveDeadLetter(ctx: ArchiverContext, message: BrokerMessage): Promise<Verdict> {
  const now = new Date()
  const record = toDeadLetterRecord(message, now)
  const json = JSON.stringify(record)
  const { redis, keys } = ctx
  if (record.tenantId) {
    const tenantId = record.tenantId
    await ctx.infra(() => redis.eval(ARCHIVE, 2, keys.deadLetters(tenantId), keys.deadLettersByTime(tenantId),
      record.id, json, now.getTime(), now.getTime() - historyLimits.deadLetterMaxAgeMs, historyLimits.deadLettersPerTenant, historyLimits.deadLetterMaxAgeMs))
  } else {
    await ctx.infra(() => redis.multi()
      .lpush(keys.pipelineDeadLetters, json)
      .ltrim(keys.pipelineDeadLetters, 0, PIPELINE_DEAD_LETTERS_LIMIT - 1)
      .pexpire(keys.pipelineDeadLetters, historyLimits.deadLetterMaxAgeMs)
      .exec())
  }
  ctx.metrics.archived.inc({ class: record.class })
  return 'ack'
}
