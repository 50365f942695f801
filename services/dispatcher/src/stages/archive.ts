import { deadLetterHeaders, parseBoundedJson, parseDeliveryTask, type DeadLetterClass, type DeadLetterRecord } from '@arrivals/contracts'
import { newDeadLetterId, type BrokerMessage, type Verdict } from '../messages.js'
import type { DispatcherMetrics } from '../metrics.js'
import { ShutdownError } from '../policies/concurrency-gate.js'
import type { DeadLetterArchive, WaitOutRedisOutage } from '../ports.js'
import { orderedTask, release, type OrderContext } from './order.js'

/** A pipeline dead letter keeps this much of the original body (enough to see what was wrong). */
const BODY_KEPT = 4096
const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/
const REASON_KEPT = 500

/** What the archive stage works with for the life of the process. */
export interface ArchiveContext {
  archive: DeadLetterArchive
  metrics: DispatcherMetrics
  waitOutRedisOutage: WaitOutRedisOutage
  /** Ordered delivery: a dead-lettered head (the broker's poison limit included) lets the next of its store go. */
  order?: OrderContext
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
    // Bounded like every other parse of a broker message; not JSON (or too deep): nothing more to learn.
    const parsed = parseBoundedJson(message.content, 'dead letter')
    if (parsed.ok && typeof parsed.value === 'object' && parsed.value !== null) {
      const body = parsed.value as Record<string, unknown>
      if (typeof body.tenantid === 'string') tenantId = body.tenantid
      else if (typeof body.tenantId === 'string') tenantId = body.tenantId
      if (typeof body.id === 'string') eventId = body.id.slice(0, 128)
      else if (typeof body.eventId === 'string') eventId = body.eventId.slice(0, 128)
    }
    tenantId ??= text(headers.tenantid) ?? null
  }
  if (tenantId !== null && !TENANT_ID.test(tenantId)) tenantId = null

  const record: DeadLetterRecord = {
    id: deadLetterId(message),
    class: cls,
    tenantId,
    subscriptionId: task?.subscriptionId ?? null,
    eventId,
    reason: reasonOf(message, broker),
    lastStatus: integer(headers[deadLetterHeaders.lastStatus]) ?? task?.lastStatus ?? null,
    attempts: integer(headers[deadLetterHeaders.attempts]) ?? task?.attempt ?? broker?.count ?? 0,
    deadLetteredAt: now.toISOString(),
  }
  if (task) record.task = task
  else record.body = message.content.toString('utf8').slice(0, BODY_KEPT)
  return record
}

function deadLetterId(message: BrokerMessage): string {
  return message.messageId && /^dl_[A-Za-z0-9_-]{8,64}$/.test(message.messageId) ? message.messageId : newDeadLetterId()
}

function reasonOf(message: BrokerMessage, broker: { reason: string } | undefined): string {
  return (text(message.headers[deadLetterHeaders.reason]) ?? broker?.reason ?? 'dead-lettered').slice(0, REASON_KEPT)
}

/**
 * What is kept of a dead letter the archive could not store as it was: only what cannot fail to
 * serialize (short strings), in the operators' list of pipeline dead letters, whatever its tenant.
 */
function parkedRecord(message: BrokerMessage, error: unknown, now: Date): DeadLetterRecord {
  const tenantId = text(message.headers.tenantid)
  const why = error instanceof Error ? error.message : String(error)
  return {
    id: deadLetterId(message),
    class: 'pipeline',
    tenantId: tenantId !== undefined && TENANT_ID.test(tenantId) ? tenantId : null,
    subscriptionId: null,
    eventId: null,
    reason: `parked: the archive could not store this dead letter (${why.slice(0, 200)}); it was dead-lettered because: ${reasonOf(message, isOurs(message) ? undefined : brokerReason(message.headers))}`,
    lastStatus: null,
    attempts: integer(message.headers[deadLetterHeaders.attempts]) ?? 0,
    deadLetteredAt: now.toISOString(),
    body: message.content.toString('utf8', 0, Math.min(message.content.length, BODY_KEPT * 4)).slice(0, BODY_KEPT),
  }
}

function isOurs(message: BrokerMessage): boolean {
  return text(message.headers[deadLetterHeaders.class]) !== undefined
}

/**
 * The archive stage: consumes `<ns>.dead-letters` into the archive the subscriptions service lists and
 * replays. The record id is the message id, so archiving twice (a crash between the write and the
 * ack) writes the same record. The dead-letters queue is the end of the line (no delivery limit), so
 * a dead letter the archive cannot store (it cannot be serialized, its tenant's keys refuse it) is
 * parked with the reason instead of being returned to the queue forever; only a park that fails too
 * (Redis itself refusing writes) returns it, since that is no fault of the message.
 */
export async function archiveDeadLetter(ctx: ArchiveContext, message: BrokerMessage): Promise<Verdict> {
  const now = new Date()
  let record: DeadLetterRecord
  try {
    record = toDeadLetterRecord(message, now)
    await ctx.waitOutRedisOutage(() => ctx.archive.archive(record, now))
  } catch (error) {
    if (error instanceof ShutdownError) throw error
    record = parkedRecord(message, error, now)
    await ctx.waitOutRedisOutage(() => ctx.archive.park(record))
  }
  ctx.metrics.archived.inc({ class: record.class })
  // The deliver stage released the heads it dead-lettered itself (then this is a no-op); a task the
  // broker dead-lettered as poison would otherwise hold its store for good.
  if (ctx.order && record.task && orderedTask(record.task)) await release(ctx.order, record.task)
  return 'ack'
}
