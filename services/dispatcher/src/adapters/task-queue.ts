import { deadLetterHeaders, retryLabel, topologyNames, type DeadLetterClass, type DeliveryTask, type TopologyNames } from '@arrivals/contracts'
import { deliveryTaskMessage, PublishUnavailableError, type Broker, type OutgoingMessage } from '@arrivals/messaging'
import { HELD_HEADER, NOT_BEFORE_HEADER, newDeadLetterId, type BrokerMessage } from '../messages.js'
import type { DispatcherMetrics } from '../metrics.js'
import { tierFor } from '../policies/retry-policy.js'
import type { DeadLetters, RetryScheduler, TaskPublisher, WaitReason } from '../ports.js'

function truncate(text: string, length = 500): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text
}

/**
 * Everything the dispatcher publishes, with confirms: new tasks, retries into the TTL tiers, and dead
 * letters. A retry is a new message (svix's model), never a nack-and-requeue, so its wait and its
 * attempt count travel with it.
 */
export class TaskQueue implements TaskPublisher, RetryScheduler, DeadLetters {
  private readonly names: TopologyNames

  constructor(
    private readonly broker: Pick<Broker, 'connected' | 'publish'>,
    private readonly namespace: string,
    private readonly tiers: readonly number[],
    private readonly metrics: DispatcherMetrics,
  ) {
    this.names = topologyNames(namespace)
  }

  /**
   * Everything published here is implied by a message this process holds: with the connection gone
   * that message is back in its queue already, so fail at once instead of waiting for a new connection.
   */
  private publish(message: OutgoingMessage): Promise<void> {
    if (!this.broker.connected) return Promise.reject(new PublishUnavailableError('RabbitMQ is not connected'))
    return this.broker.publish(message)
  }

  private headers(task: DeliveryTask): Record<string, string> {
    const headers: Record<string, string> = { tenantid: task.tenantId }
    if (task.traceparent) headers.traceparent = task.traceparent
    return headers
  }

  publishTask(task: DeliveryTask): Promise<void> {
    return this.publish(deliveryTaskMessage(this.namespace, task))
  }

  /**
   * Sends the task round a retry tier so it comes back in `delayMs`: the smallest tier at least that
   * long, shortened to the exact wait by the message's own expiration; a wait longer than every tier
   * goes round the longest one with a not-before mark and is sent round again for the rest.
   */
  async schedule(task: DeliveryTask, delayMs: number, reason: WaitReason, held = false): Promise<Date> {
    const wait = Math.max(1, Math.round(delayMs))
    const tier = tierFor(this.tiers, wait)
    const headers: Record<string, unknown> = this.headers(task)
    if (held) headers[HELD_HEADER] = 1
    const dueAt = Date.now() + wait
    if (wait > tier) headers[NOT_BEFORE_HEADER] = dueAt
    await this.publish({
      exchange: this.names.retryExchange,
      routingKey: retryLabel(tier),
      body: Buffer.from(JSON.stringify(task)),
      properties: { messageId: task.deliveryId, contentType: 'application/json', headers, ...(wait < tier ? { expiration: String(wait) } : {}) },
    })
    this.metrics.retries.inc({ tier: retryLabel(tier), reason })
    return new Date(dueAt)
  }

  /**
   * The task goes to the archive, replayable with the same webhook-id: class `endpoint` when the
   * endpoint gave up, `pipeline` when Arrivals could not send it at all; `attempts` is how many were made.
   */
  async deadLetterTask(task: DeliveryTask, reason: string, cls: DeadLetterClass = 'endpoint', attempts = task.attempt): Promise<void> {
    await this.publish({
      exchange: this.names.deadLetterExchange,
      routingKey: '',
      body: Buffer.from(JSON.stringify(task)),
      properties: {
        messageId: newDeadLetterId(),
        contentType: 'application/json',
        headers: {
          ...this.headers(task),
          [deadLetterHeaders.reason]: truncate(reason),
          [deadLetterHeaders.class]: cls,
          [deadLetterHeaders.lastStatus]: task.lastStatus ?? null,
          [deadLetterHeaders.attempts]: attempts,
        },
      },
    })
    this.metrics.deadLetters.inc({ class: cls })
  }

  /** Arrivals could not process the message: its original body goes to the archive with the reason. */
  async deadLetterMessage(message: BrokerMessage, reason: string): Promise<void> {
    const headers: Record<string, unknown> = {
      [deadLetterHeaders.reason]: truncate(reason),
      [deadLetterHeaders.class]: 'pipeline',
    }
    for (const name of ['tenantid', 'traceparent']) {
      if (typeof message.headers[name] === 'string') headers[name] = message.headers[name]
    }
    await this.publish({ exchange: this.names.deadLetterExchange, routingKey: '', body: message.content, properties: { messageId: newDeadLetterId(), headers } })
    this.metrics.deadLetters.inc({ class: 'pipeline' })
  }
}
