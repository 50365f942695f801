import { deadLetterHeaders, eventTypes, type DeadLetterRecord, type DeliveryTask } from '@arrivals/contracts'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import type { Broker, MessageHandler } from '@arrivals/messaging'
import { HELD_HEADER, NOT_BEFORE_HEADER, type Verdict } from '../../src/messages.js'
import { createDispatcherMetrics } from '../../src/metrics.js'
import { ShutdownError } from '../../src/policies/concurrency-gate.js'
import { Consumers, type Handler } from '../../src/runtime/consumers.js'
import { deliver, longestWaitMs, verdictOf, type DeliverContext } from '../../src/stages/deliver.js'
import { fanOut, type FanOutContext } from '../../src/stages/fan-out.js'
import { archiveDeadLetter, type ArchiveContext } from '../../src/stages/archive.js'
import type { DeadLetterArchive } from '../../src/ports.js'
import { deliverWorld, event, message, status, subscription, task, type FakeWebhooks } from './fakes.js'

// The dispatcher's decision tree, one outcome per test, on in-memory fakes of the ports (one file:
// each test file imports the contracts' compiled schemas afresh, and the unit loop stays fast).

const queued = (ctx: DeliverContext, body: DeliveryTask | string, headers: Record<string, unknown> = {}) =>
  deliver(ctx, { kind: 'message', message: message(body, headers) })

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((done) => (resolve = done))
  return { promise, resolve }
}

describe('deliver stage', () => {
  it('delivered: one signed POST, recorded, the failure streak cleared, acknowledged', async () => {
    const world = deliverWorld()
    const sent = task('sub_1')
    const outcome = await queued(world.ctx, sent)
    expect(outcome).toBe('delivered')
    expect(verdictOf(outcome)).toBe('ack')
    expect(world.webhooks.sent).toHaveLength(1)
    expect(world.webhooks.sent[0]!.url).toBe('https://receiver.test/sub_1?sig=secret')
    expect(world.webhooks.sent[0]!.headers['webhook-id']).toBe(sent.deliveryId)
    expect(world.webhooks.sent[0]!.headers['webhook-signature']).toMatch(/^v1,/)
    expect(world.attempts.outcomes()).toEqual(['delivered'])
    expect(world.attempts.succeededIds).toEqual(['sub_1'])
    expect(world.queue.scheduled).toEqual([])
    expect(world.queue.deadLettered).toEqual([])
    expect(await world.counted('delivered')).toBe(1)
  })

  it('410 gone: removes the subscription, and an attempt already waiting for a slot is skipped, not sent', async () => {
    const answered = deferred()
    const world = deliverWorld({ endpointConcurrency: 1, answers: [async () => (await answered.promise, status(410))] })
    const first = queued(world.ctx, task('sub_1'))
    const second = queued(world.ctx, task('sub_1'))
    await new Promise((resolve) => setTimeout(resolve, 5))
    answered.resolve()
    expect(await first).toBe('gone')
    expect(await second).toBe('skipped')
    expect(world.webhooks.sent).toHaveLength(1)
    expect(world.changes.removed).toEqual(['sub_1'])
    expect(world.subscriptions.isGone('sub_1')).toBe(true)
    expect(world.attempts.outcomes()).toEqual(['gone', 'skipped'])
    expect(world.attempts.records[1]!.error).toMatch(/410 Gone/)
    expect(world.queue.deadLettered).toEqual([])
  })

  it('Retry-After honoured: the retry waits as long as the receiver asked (capped), with the next attempt number', async () => {
    const world = deliverWorld({ answers: [status(503, 120_000), status(429, 36_000_000)] })
    expect(await queued(world.ctx, task('sub_1'))).toBe('retry')
    expect(await queued(world.ctx, task('sub_1'))).toBe('retry')
    expect(world.queue.scheduled.map(({ delayMs, reason }) => [delayMs, reason])).toEqual([[120_000, 'retry'], [600_000, 'retry']])
    const retry = world.queue.scheduled[0]!.task
    expect(retry.attempt).toBe(2)
    expect(retry.lastStatus).toBe(503)
    // The history spells the retry outcome as the API does.
    expect(world.attempts.outcomes()).toEqual(['retrying', 'retrying'])
    expect(world.attempts.records[0]!.nextAttemptAt).toBeDefined()
    expect(world.changes.failures.get('sub_1')?.count).toBe(2)
    expect(await world.counted('retry')).toBe(2)
  })

  it('4xx budget exhausted: a refusal is retried up to MAX_4XX_ATTEMPTS in all, then dead-lettered', async () => {
    const world = deliverWorld({ answers: [status(400), status(400)] })
    expect(await queued(world.ctx, task('sub_1'))).toBe('retry')
    expect(await queued(world.ctx, task('sub_1', { attempt: 2 }))).toBe('gave-up')
    expect(world.queue.deadLettered).toHaveLength(1)
    const [dead] = world.queue.deadLettered
    expect(dead!.reason).toMatch(/kept refusing the delivery \(HTTP 400\) after 2 attempts/)
    expect([dead!.cls, dead!.attempts, dead!.task.lastStatus]).toEqual(['endpoint', 2, 400])
    expect(world.attempts.outcomes()).toEqual(['retrying', 'gave-up'])
  })

  it('retries exhausted: the last scheduled attempt fails and the task is dead-lettered with the last status', async () => {
    const world = deliverWorld({ answers: [status(500)] })
    expect(await queued(world.ctx, task('sub_1', { attempt: 4 }))).toBe('gave-up')
    expect(world.queue.scheduled).toEqual([])
    expect(world.queue.deadLettered[0]!.reason).toBe('retries exhausted after 4 attempts; last: HTTP 500')
    expect(world.queue.deadLettered[0]!.attempts).toBe(4)
    expect(await world.counted('gave-up')).toBe(1)
  })

  it('sustained failure: the subscription is disabled once the streak reaches DISABLE_AFTER_FAILURES', async () => {
    const world = deliverWorld({ answers: [status(500), status(500), status(500)] })
    for (let attempt = 1; attempt <= 3; attempt++) await queued(world.ctx, task('sub_1', { attempt }))
    expect(world.changes.disabled).toHaveLength(1)
    expect(world.changes.disabled[0]!.reason).toMatch(/^disabled after 3 consecutive failed attempts/)
  })

  it('circuit open: a first attempt waits in a tier without spending an attempt, recorded once; retries still go through', async () => {
    const world = deliverWorld()
    const endpoint = 'https://receiver.test/sub_1'
    for (let failure = 0; failure < 3; failure++) world.breakers.record(endpoint, true)
    expect(await queued(world.ctx, task('sub_1'))).toBe('circuit-open')
    const [held] = world.queue.scheduled
    expect([held!.reason, held!.held, held!.task.attempt]).toEqual(['circuit-open', true, 1])
    // Round again, marked held: it waits again, and the history is not written twice.
    expect(await queued(world.ctx, held!.task, { [HELD_HEADER]: 1 })).toBe('circuit-open')
    expect(world.attempts.outcomes()).toEqual(['circuit-open'])
    expect(world.webhooks.sent).toEqual([])
    expect(world.queue.deadLettered).toEqual([])
    // A retry is the breaker's probe.
    expect(await queued(world.ctx, task('sub_1', { attempt: 2 }))).toBe('delivered')
    expect(world.breakers.isClosed(endpoint)).toBe(true)
  })

  it('busy endpoint (queued): a slow endpoint at its cap with its waiting room full defers the task to the shortest tier', async () => {
    const world = deliverWorld({ endpointConcurrency: 4 })
    const endpoint = 'https://receiver.test/sub_1'
    world.ctx.latency.begin(endpoint)(1_000)
    const slots = await Promise.all([1, 2, 3, 4].map(() => world.ctx.gate.acquire(endpoint, true)))
    const waiting = queued(world.ctx, task('sub_1'))
    expect(await queued(world.ctx, task('sub_1'))).toBe('deferred')
    expect(world.queue.scheduled.map(({ delayMs, reason, task }) => [delayMs, reason, task.attempt])).toEqual([[1_000, 'endpoint-busy', 1]])
    expect(world.webhooks.sent).toEqual([])
    for (const release of slots) if (release !== 'busy') release()
    expect(await waiting).toBe('delivered')
  })

  it('busy endpoint (inline): a fast endpoint at its cap is waited for, then sent', async () => {
    const world = deliverWorld({ endpointConcurrency: 1 })
    const theSubscription = subscription('sub_1')
    const slot = await world.ctx.gate.acquire('https://receiver.test/sub_1', false)
    const inline = deliver(world.ctx, { kind: 'delivery', inline: true, task: task('sub_1'), subscription: theSubscription, held: false })
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(world.webhooks.sent).toEqual([])
    if (slot !== 'busy') slot()
    expect(await inline).toBe('delivered')
    expect(world.webhooks.sent).toHaveLength(1)
  })

  it('inline, not admitted: an endpoint whose circuit is not closed, or that is slow, gets a task instead (nothing sent or counted)', async () => {
    const world = deliverWorld()
    const inline = (id: string) => deliver(world.ctx, { kind: 'delivery', inline: true, task: task(id), subscription: subscription(id), held: false })
    world.breakers.record('https://receiver.test/sub_1', true)
    world.ctx.latency.begin('https://receiver.test/sub_2')(1_000)
    expect(await inline('sub_1')).toBe('not-admitted')
    expect(await inline('sub_2')).toBe('not-admitted')
    expect(world.webhooks.sent).toEqual([])
    expect((await world.metrics.deliveries.get()).values).toEqual([])
  })

  it('disabled subscription: not sent, dead-lettered for redelivery once enabled (attempts made so far); a test delivery is only skipped', async () => {
    const world = deliverWorld({ subscriptions: [subscription('sub_1', { status: 'disabled', disabledReason: 'too many failures' })] })
    expect(await queued(world.ctx, task('sub_1', { attempt: 3 }))).toBe('skipped')
    expect(await queued(world.ctx, task('sub_1', { origin: 'test' }))).toBe('skipped')
    expect(world.webhooks.sent).toEqual([])
    expect(world.queue.deadLettered.map(({ reason, cls, attempts }) => [reason, cls, attempts]))
      .toEqual([['not sent: the subscription is disabled: too many failures', 'endpoint', 2]])
    expect(world.attempts.outcomes()).toEqual(['skipped', 'skipped'])
  })

  it('subscription gone: the task is skipped and recorded, nothing sent or dead-lettered', async () => {
    const world = deliverWorld({ subscriptions: [] })
    expect(await queued(world.ctx, task('sub_deleted'))).toBe('skipped')
    expect(world.attempts.records.map(({ outcome, error }) => [outcome, error])).toEqual([['skipped', 'the subscription no longer exists']])
    expect(world.webhooks.sent).toEqual([])
    expect(world.queue.deadLettered).toEqual([])
  })

  it('invalid task: dead-lettered with the reason, acknowledged (never loops)', async () => {
    const world = deliverWorld()
    const outcome = await queued(world.ctx, '{"kind":"deliver","attempt":0}', { tenantid: 'tenant-unit' })
    expect(outcome).toBe('invalid')
    expect(verdictOf(outcome)).toBe('ack')
    expect(world.queue.unreadable).toHaveLength(1)
    expect(world.queue.unreadable[0]!.reason).toMatch(/^invalid delivery task at \//)
    expect(await world.counted('invalid')).toBe(1)
  })

  it('not yet due: a task back early from a tier shorter than its wait goes round again for the rest', async () => {
    const world = deliverWorld()
    const outcome = await queued(world.ctx, task('sub_1'), { [NOT_BEFORE_HEADER]: Date.now() + 60_000, [HELD_HEADER]: 1 })
    expect(outcome).toBe('deferred')
    const [again] = world.queue.scheduled
    expect([again!.reason, again!.held]).toEqual(['not-yet', true])
    expect(again!.delayMs).toBeGreaterThan(59_000)
    expect(world.webhooks.sent).toEqual([])
  })

  it('not yet due, years ahead: the wait is clamped to the longest the dispatcher gives, so it cannot cycle forever', async () => {
    const world = deliverWorld()
    const fiveYears = 5 * 365 * 86_400_000
    expect(await queued(world.ctx, task('sub_1'), { [NOT_BEFORE_HEADER]: Date.now() + fiveYears })).toBe('deferred')
    const [again] = world.queue.scheduled
    expect(again!.delayMs).toBe(longestWaitMs(world.ctx.policy))
    expect(again!.delayMs).toBeLessThan(fiveYears)
  })

  it('secrets that cannot be opened: a pipeline dead letter, not counted against the subscription', async () => {
    const world = deliverWorld({ subscriptions: [subscription('sub_1', { unopenable: true })] })
    expect(await queued(world.ctx, task('sub_1'))).toBe('gave-up')
    expect(world.queue.deadLettered.map(({ cls }) => cls)).toEqual(['pipeline'])
    expect(world.webhooks.sent).toEqual([])
    expect(world.changes.failures.size).toBe(0)
  })

  it('shutdown past the drain deadline: an unanswered send is handed back (requeued), with nothing scheduled', async () => {
    const world = deliverWorld({ answers: [async () => (world.shutdown.abort(), { kind: 'timeout', error: 'aborted' })] })
    const outcome = await queued(world.ctx, task('sub_1'))
    expect(outcome).toBe('requeued')
    expect(verdictOf(outcome)).toBe('requeue')
    expect(world.queue.scheduled).toEqual([])
    expect(world.attempts.records).toEqual([])
  })
})

function fanOutWorld(options: { inline?: boolean; answers?: ConstructorParameters<typeof FakeWebhooks> } = {}) {
  const world = deliverWorld({ subscriptions: [subscription('sub_1'), subscription('sub_2')], ...(options.answers ? { answers: options.answers } : {}) })
  const ctx: FanOutContext = {
    subscriptions: world.subscriptions, tasks: world.queue, deadLetters: world.queue, metrics: world.metrics, log: world.ctx.log,
    waitOutRedisOutage: world.ctx.waitOutRedisOutage,
  }
  if (options.inline !== false) ctx.inline = world.ctx
  const events = async (result: string) => (await world.metrics.events.get()).values.find((value) => value.labels.result === result)?.value ?? 0
  return { ...world, fanOutCtx: ctx, events }
}

describe('fan-out stage', () => {
  it('makes the first attempts inline for fast, healthy endpoints: delivered, no task published', async () => {
    const world = fanOutWorld()
    expect(await fanOut(world.fanOutCtx, message(event()))).toBe('ack')
    expect(world.webhooks.sent).toHaveLength(2)
    expect(world.queue.published).toEqual([])
    expect(await world.counted('delivered')).toBe(2)
    expect(await world.events('fanned-out')).toBe(1)
  })

  it('publishes one task per match when inline attempts are off, or not admitted; a failed inline attempt is a retry, not a task', async () => {
    const off = fanOutWorld({ inline: false })
    const happened = event()
    expect(await fanOut(off.fanOutCtx, message(happened))).toBe('ack')
    expect(off.queue.published.map(({ subscriptionId, attempt, eventId }) => [subscriptionId, attempt, eventId])).toEqual([['sub_1', 1, happened.id], ['sub_2', 1, happened.id]])
    expect((await off.metrics.tasksPublished.get()).values[0]!.value).toBe(2)

    const slow = fanOutWorld({ answers: [status(503)] })
    slow.ctx.latency.begin('https://receiver.test/sub_2')(1_000)
    expect(await fanOut(slow.fanOutCtx, message(event()))).toBe('ack')
    expect(slow.queue.published.map(({ subscriptionId }) => subscriptionId)).toEqual(['sub_2'])
    expect(slow.queue.scheduled.map(({ task, reason }) => [task.subscriptionId, task.attempt, reason])).toEqual([['sub_1', 2, 'retry']])
  })

  it('dead-letters an invalid event with the reason and acknowledges it; an event without a tenant matches nothing', async () => {
    const world = fanOutWorld()
    expect(await fanOut(world.fanOutCtx, message({ type: 'nonsense' }, { tenantid: 'tenant-unit' }))).toBe('ack')
    expect(world.queue.unreadable.map(({ reason }) => reason)).toEqual([`unknown event type "nonsense"; known: ${eventTypes.join(', ')}`])
    const { tenantid: _tenant, ...tenantless } = event()
    expect(await fanOut(world.fanOutCtx, message(tenantless))).toBe('ack')
    expect(await world.events('invalid')).toBe(1)
    expect(await world.events('no-tenant')).toBe(1)
    expect(world.webhooks.sent).toEqual([])
  })

  it('dead-letters an event whose tenant is only in the AMQP header, saying where tenantid belongs', async () => {
    const world = fanOutWorld()
    const { tenantid: _tenant, ...tenantless } = event()
    expect(await fanOut(world.fanOutCtx, message(tenantless, { tenantid: 'tenant-unit' }))).toBe('ack')
    expect(world.queue.unreadable.map(({ reason }) => reason)).toEqual([expect.stringContaining('set the CloudEvents extension attribute tenantid in the event itself')])
    expect(await world.events('invalid')).toBe(1)
    expect(await world.events('no-tenant')).toBe(0)
    expect(world.webhooks.sent).toEqual([])
  })

  it('hands the whole event back when an inline attempt was cut short by a shutdown', async () => {
    const world = fanOutWorld({ answers: [async () => (world.shutdown.abort(), { kind: 'timeout', error: 'aborted' })] })
    expect(await fanOut(world.fanOutCtx, message(event()))).toBe('requeue')
    expect(await world.events('fanned-out')).toBe(0)
  })
})

describe('consumers', () => {
  function consumers() {
    const settled: Verdict[] = []
    let onMessage: MessageHandler | undefined
    const broker: Pick<Broker, 'consume'> = {
      consume(_options, handle) {
        onMessage = handle
      },
    }
    const running = new Consumers(broker, createDispatcherMetrics(new Registry(), () => 0), { debug() {}, info() {}, warn() {}, error() {} }, new AbortController())
    const start = async (handle: Handler) => {
      running.register('deliveries', 'deliveries', 1, handle)
      const consumed = (body: unknown) => ({ ...message(body), routingKey: 'deliveries', redelivered: false })
      return (body: unknown) => void onMessage!(consumed(body), new AbortController().signal).then((verdict) => settled.push(verdict))
    }
    return { running, start, settled }
  }

  it('infrastructure failure: a stage that throws (Redis failing while up) gets its message rejected, counted toward the delivery limit', async () => {
    const { running, start, settled } = consumers()
    const world = deliverWorld()
    world.subscriptions.failure = new Error('READONLY You can\'t write against a read only replica')
    const push = await start((received) => deliver(world.ctx, { kind: 'message', message: received }).then(verdictOf))
    push(task('sub_1'))
    await running.settled()
    expect(settled).toEqual(['reject'])
    expect(world.webhooks.sent).toEqual([])
  })

  it('a shutdown while waiting is a hand-back (requeue), not a failure', async () => {
    const { running, start, settled } = consumers()
    const push = await start(async () => {
      throw new ShutdownError('shutting down')
    })
    push({})
    await running.settled()
    expect(settled).toEqual(['requeue'])
  })
})

describe('archive stage', () => {
  class FakeArchive implements DeadLetterArchive {
    readonly written: DeadLetterRecord[] = []
    readonly parked: DeadLetterRecord[] = []
    refuseWrites: Error | undefined
    async archive(record: DeadLetterRecord) {
      if (this.refuseWrites) throw this.refuseWrites
      JSON.stringify(record)
      this.written.push(record)
    }

    async park(record: DeadLetterRecord) {
      this.parked.push(JSON.parse(JSON.stringify(record)) as DeadLetterRecord)
    }
  }
  const archiveWorld = () => {
    const archive = new FakeArchive()
    const ctx: ArchiveContext = { archive, metrics: createDispatcherMetrics(new Registry(), () => 0), waitOutRedisOutage: (operation) => operation() }
    return { archive, ctx }
  }

  it('a task nested 100,000 deep is archived once as a pipeline dead letter with its head kept, without overflowing', async () => {
    const { archive, ctx } = archiveWorld()
    const body = JSON.stringify({ ...task('sub_1'), deep: 'X' }).replace('"X"', `${'['.repeat(100_000)}${']'.repeat(100_000)}`)
    const verdict = await archiveDeadLetter(ctx, message(body, { tenantid: 'contoso', [deadLetterHeaders.class]: 'pipeline', [deadLetterHeaders.reason]: 'delivery task is nested deeper than 32 levels' }))
    expect(verdict).toBe('ack')
    expect(archive.written).toHaveLength(1)
    expect(archive.written[0]).toMatchObject({ class: 'pipeline', tenantId: 'contoso', reason: 'delivery task is nested deeper than 32 levels' })
    expect(archive.written[0]!.body).toHaveLength(4096)
  })

  it('a dead letter the archive cannot store is parked with the reason and acknowledged, never returned to the queue', async () => {
    const { archive, ctx } = archiveWorld()
    archive.refuseWrites = new Error('WRONGTYPE Operation against a key holding the wrong kind of value')
    const verdict = await archiveDeadLetter(ctx, message(task('sub_1'), { tenantid: 'contoso', [deadLetterHeaders.class]: 'endpoint', [deadLetterHeaders.reason]: 'retries exhausted' }))
    expect(verdict).toBe('ack')
    expect(archive.parked).toHaveLength(1)
    expect(archive.parked[0]).toMatchObject({ class: 'pipeline', tenantId: 'contoso' })
    expect(archive.parked[0]!.reason).toMatch(/^parked: the archive could not store this dead letter \(WRONGTYPE.*\); it was dead-lettered because: retries exhausted$/)
    expect(archive.parked[0]!.body).toContain('"kind":"deliver"')
  })

  it('a shutdown while the archive waits hands the message back instead of parking it', async () => {
    const { archive, ctx } = archiveWorld()
    archive.refuseWrites = new ShutdownError('shutting down')
    await expect(archiveDeadLetter(ctx, message(task('sub_1')))).rejects.toBeInstanceOf(ShutdownError)
    expect(archive.parked).toEqual([])
  })
})
