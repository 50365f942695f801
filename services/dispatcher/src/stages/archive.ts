import { deadLetterHeaders, parseDeliveryTask, type DeadLetterClass, type DeadLetterRecord } from '@arrivals/contracts'
import { newDeadLetterId, type BrokerMessage, type Verdict } from '../messages.js'
import type { DispatcherMetrics } from '../metrics.js'
import type { DeadLetterArchive, WaitOutRedisOutage } from '../ports.js'

/** A pipeline dead letter keeps this much of the original body (enough to see what was wrong). */
const BODY_KEPT = 4096
const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/

/** What the archive stage works with for the life of the process. */
export interface ArchiveContext {
  archive: DeadLetterArchive
  metrics: DispatcherMetrics
  waitOutRedisOutage: WaitOutRedisOutage
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

/** The archive record of one dead-lettered message: ours carry their class and reason in headers; the broker's own say why in x-death. */
function toDeadLetterRecord(message: BrokerMessage, now = new Date()): DeadLetterRecord {
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
 * The archive stage: consumes `<ns>.dead-letters` into the archive the subscriptions service lists and
 * replays. The record id is the message id, so archiving twice (a crash between the write and the
 * ack) writes the same record.
 */
export async function archiveDeadLetter(ctx: ArchiveContext, message: BrokerMessage): Promise<Verdict> {
  const now = new Date()
  const record = toDeadLetterRecord(message, now)
  await ctx.waitOutRedisOutage(() => ctx.archive.archive(record, now))
  ctx.metrics.archived.inc({ class: record.class })
  return 'ack'
}
