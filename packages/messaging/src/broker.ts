import type { BrokerTopology, QueueDeclaration } from '@arrivals/contracts'
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib'
import { PublishUnavailableError } from './errors.js'
import { brokerNodes, firstNode, nodeLabel, reconnectDelayMs } from './nodes.js'
import { applyTopology, refusedForCreationOnlyArgument } from './topology.js'

/**
 * What the consumer tells the broker once a handler is done with a message:
 * - `ack`: done, the broker forgets it;
 * - `requeue`: handed back unprocessed (shutdown, no capacity): `basic.nack` with requeue, which does
 *   not count toward a quorum queue's delivery limit;
 * - `reject`: a processing failure: `basic.reject` with requeue, which counts toward the delivery limit
 *   (RabbitMQ 4.3+), so a message that always fails ends as a poison dead letter instead of looping.
 */
export type Verdict = 'ack' | 'requeue' | 'reject'

/** A consumed message as a handler sees it. */
export interface ConsumedMessage {
  content: Buffer
  headers: Record<string, unknown>
  messageId?: string
  routingKey: string
  /** The broker delivered it before (to this or another consumer) without an answer. */
  redelivered: boolean
}

/**
 * Handles one message and says what becomes of it. `signal` aborts when a drain reaches its deadline:
 * the message has then been handed back already and the verdict is ignored.
 */
export type MessageHandler = (message: ConsumedMessage, signal: AbortSignal) => Promise<Verdict>

export interface ConsumerOptions {
  /** For logs and `consumers()`; unique per broker. */
  name: string
  queue: string
  /** At most this many unanswered messages of this consumer are in the process at once. */
  prefetch: number
  /** The verdict for a handler that threw (default: log it and `reject`). */
  onError?: (error: unknown, message: ConsumedMessage) => Verdict
}

export interface OutgoingMessage {
  exchange: string
  routingKey: string
  body: Buffer
  /** AMQP properties; `persistent` defaults to true. With `mandatory`, set `messageId` too. */
  properties?: Options.Publish
}

/** Structured logging, fields first (pino's and fastify's loggers fit). */
export interface BrokerLog {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
}

export interface BrokerOptions {
  /** One amqp(s):// URL, or the nodes of one cluster separated by commas. */
  url: string
  /** Declared on every (re)connect, before publishing or consuming. */
  topology: BrokerTopology
  /** The connection's name on the broker (management UI, list_connections). */
  connectionName: string
  /** How long one connection attempt may take, channel and topology included (default 5 s). */
  connectTimeoutMs?: number
  /** A publish's default budget, connecting included (default 5 s). */
  publishTimeoutMs?: number
  log?: BrokerLog
  /** Called when an open connection is lost (not on close()). */
  onDisconnect?: (error: Error | undefined) => void
  /**
   * When the broker has refused (nacked) every publish for this long, the publish channel is replaced
   * (default 1 s); when the fresh channel refuses every publish for five times as long, the connection
   * is recycled (to the next node). A quorum queue's publisher state can outlive a leader change and
   * refuse every later publish: a fresh channel registers afresh, and consumers keep their channels.
   */
  renewPublisherAfterMs?: number
  /** For tests of node choice and jitter. */
  random?: () => number
}

export interface DrainOptions {
  /** How long in-flight handlers may take to finish before their messages are handed back. */
  deadlineMs: number
  /** After the deadline, how long handlers may take to notice the abort before the connection closes (default 1 s). */
  abortGraceMs?: number
  /** Runs once consuming has stopped, before waiting (e.g. reject work queued inside the process). */
  afterStop?: () => void
}

export interface Broker {
  /** True while a connection with its publish channel is open. */
  readonly connected: boolean
  /** True while connected and every registered consumer is consuming, and not draining. */
  readonly consuming: boolean
  /** Starts connecting in the background (publish, connect and consume start it too). */
  start(): void
  /** Resolves once connected; PublishUnavailableError when an attempt fails or the time is up. */
  connect(timeoutMs?: number): Promise<void>
  /** Every registered consumer by name, and whether it is consuming now (per-consumer metrics). */
  consumers(): { name: string; consuming: boolean }[]
  /** Resolves once every consumer is consuming; rejects after `timeoutMs`. */
  whenConsuming(timeoutMs?: number): Promise<void>
  /**
   * Publishes (persistent by default) and resolves once the broker confirmed. The budget includes
   * connecting; a nack, a return (mandatory), a lost connection or the budget running out is a
   * PublishUnavailableError. A connection that opens after the budget is kept for the next publish.
   */
  publish(message: OutgoingMessage, options?: { timeoutMs?: number }): Promise<void>
  /** Registers a consumer on its own channel; (re)started on every connection. */
  consume(options: ConsumerOptions, handler: MessageHandler): void
  /** Stops consuming, lets in-flight handlers finish up to the deadline, hands back the rest, closes. */
  drain(options: DrainOptions): Promise<void>
  /** Closes at once; unanswered messages go back to their queues with the connection. */
  close(): Promise<void>
}

interface Session {
  connection: ChannelModel
  /** Replaced when the broker keeps refusing publishes on it (see renewPublisherAfterMs). */
  publisher: ConfirmChannel
  /** When the current run of refused publishes began (no confirm since). */
  refusedSince?: number
  /** The publish channel was replaced during the current run of refusals. */
  renewed?: boolean
  /** A replacement of the publish channel in progress. */
  renewing?: Promise<void>
  /** Message ids the broker returned as unroutable; their confirm arrives after the return. */
  returned: Set<string>
  /** Publishes waiting for a confirm: failed at once when the connection goes. */
  unconfirmed: Set<(error: Error) => void>
  /** Resolves when the connection closes, with the broker's error if it closed it. */
  lost: Promise<Error | undefined>
}

interface Consumer {
  options: ConsumerOptions
  handler: MessageHandler
  channel?: Channel
  tag?: string
  up: boolean
}

interface Delivery {
  channel: Channel
  message: ConsumeMessage
  answered: boolean
  done?: Promise<void>
}

/** Declares a queue on a channel of its own, which a refusal closes instead of the publisher's (see QueueProbe). */
async function declaredAsIs(connection: ChannelModel, queue: QueueDeclaration): Promise<boolean> {
  const probe = await connection.createChannel()
  probe.on('error', () => {})
  try {
    await probe.assertQueue(queue.name, queue.options)
    await probe.close().catch(() => {})
    return true
  } catch (error) {
    if (refusedForCreationOnlyArgument(error)) return false
    throw error
  }
}

const quietLog: BrokerLog = { info() {}, warn() {}, error() {} }
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * The one AMQP client: a connection that comes back by itself (jittered backoff, the next node of the
 * cluster after a failure), the topology declared on every connect, a confirm channel for publishing,
 * and consumers on their own channels, restarted after a reconnect. A channel that fails takes its
 * connection down with it, so recovery has exactly one path.
 */
export function createBroker(options: BrokerOptions): Broker {
  const nodes = brokerNodes(options.url)
  const random = options.random ?? Math.random
  const log = options.log ?? quietLog
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000
  const publishTimeoutMs = options.publishTimeoutMs ?? 5_000
  const renewPublisherAfterMs = options.renewPublisherAfterMs ?? 1_000
  let node = firstNode(nodes.length, random)
  let session: Session | undefined
  let running: Promise<void> | undefined
  let wake: (() => void) | undefined
  let closed = false
  let draining = false
  const drainAbort = new AbortController()
  let markClosed: () => void = () => {}
  const closing = new Promise<never>((_, reject) => {
    markClosed = () => reject(new PublishUnavailableError('the broker client is closed'))
  })
  closing.catch(() => {})
  // Everyone waiting for the outcome of the next connection attempt.
  const attemptWaiters = new Set<(error: Error | undefined) => void>()
  const consumers = new Map<string, Consumer>()
  const inFlight = new Set<Delivery>()
  // Channels closed on purpose (a replaced publish channel): their close does not recycle the connection.
  const retired = new WeakSet<Channel>()

  function settleAttempt(error: Error | undefined): void {
    for (const waiter of [...attemptWaiters]) waiter(error)
  }

  function answer(delivery: Delivery, verdict: Verdict): void {
    if (delivery.answered) return
    delivery.answered = true
    // On a channel that closed meanwhile the broker has requeued the message already.
    try {
      if (verdict === 'ack') delivery.channel.ack(delivery.message)
      else if (verdict === 'reject') delivery.channel.reject(delivery.message, true)
      else delivery.channel.nack(delivery.message, false, true)
    } catch {
      // nothing left to do
    }
  }

  function receive(consumer: Consumer, channel: Channel, message: ConsumeMessage): void {
    const consumed: ConsumedMessage = {
      content: message.content,
      headers: message.properties.headers ?? {},
      routingKey: message.fields.routingKey,
      redelivered: message.fields.redelivered,
    }
    if (typeof message.properties.messageId === 'string') consumed.messageId = message.properties.messageId
    const delivery: Delivery = { channel, message, answered: false }
    inFlight.add(delivery)
    delivery.done = consumer.handler(consumed, drainAbort.signal)
      .catch((error: unknown): Verdict => {
        if (consumer.options.onError) return consumer.options.onError(error, consumed)
        log.error({ consumer: consumer.options.name, err: { message: (error as Error).message } }, 'message handling failed; returned to the queue')
        return 'reject'
      })
      .then((verdict) => answer(delivery, verdict))
      .finally(() => inFlight.delete(delivery))
  }

  async function startConsumer(current: Session, consumer: Consumer): Promise<void> {
    const channel = await current.connection.createChannel()
    watch(current, channel)
    // Per consumer: at most this many unanswered messages are in this process at once.
    await channel.prefetch(consumer.options.prefetch)
    const { consumerTag } = await channel.consume(consumer.options.queue, (message) => {
      if (message) return receive(consumer, channel, message)
      // The broker cancelled us (the queue was deleted): start over on a fresh connection.
      consumer.up = false
      void current.connection.close().catch(() => {})
    }, { noAck: false })
    Object.assign(consumer, { channel, tag: consumerTag, up: !draining })
  }

  function watch(current: Pick<Session, 'connection'>, channel: Channel): void {
    channel.on('error', (error: Error) => log.warn({ err: { message: error.message } }, 'rabbitmq channel error'))
    channel.on('close', () => {
      if (!closed && !retired.has(channel)) void current.connection.close().catch(() => {})
    })
  }

  /** A confirm channel for publishing on a session's connection, watched, with its returns recorded. */
  async function openPublisher(current: Pick<Session, 'connection' | 'returned'>): Promise<ConfirmChannel> {
    const publisher = await current.connection.createConfirmChannel()
    watch(current, publisher)
    publisher.on('return', (message: ConsumeMessage) => {
      if (typeof message.properties.messageId === 'string') current.returned.add(message.properties.messageId)
    })
    return publisher
  }

  /**
   * Counts a refused publish; once every publish has been refused for renewPublisherAfterMs, swaps in a
   * fresh publish channel (the old one's unconfirmed publishes fail as it closes). A failed swap, or a
   * fresh channel refused as long again five times over, recycles the connection: the one recovery
   * path for everything else.
   */
  function refused(current: Session): void {
    const now = Date.now()
    current.refusedSince ??= now
    const refusedForMs = now - current.refusedSince
    if (current.renewing || session !== current || refusedForMs < renewPublisherAfterMs * (current.renewed ? 5 : 1)) return
    if (current.renewed) {
      log.warn({ node: nodeLabel(nodes[node]!), refusedForMs }, 'RabbitMQ still refuses every publish on a fresh channel; reconnecting')
      void current.connection.close().catch(() => {})
      return
    }
    log.warn({ node: nodeLabel(nodes[node]!), refusedForMs: now - current.refusedSince }, 'RabbitMQ refused every publish for a while; opening a fresh publish channel')
    current.renewing = (async () => {
      const stale = current.publisher
      current.publisher = await openPublisher(current)
      retired.add(stale)
      await stale.close().catch(() => {})
    })()
      .catch((error: Error) => {
        log.warn({ err: { message: error.message } }, 'could not open a fresh publish channel; reconnecting')
        void current.connection.close().catch(() => {})
      })
      .finally(() => {
        current.renewing = undefined
        current.renewed = true
        current.refusedSince = undefined
      })
  }

  /** One attempt: connection, confirm channel, topology. Closes what it opened when it fails or ends late. */
  async function open(url: string): Promise<Session> {
    const attempt = (async () => {
      const connection = await amqp.connect(url, {
        // Names the connection in the management UI and `rabbitmqctl list_connections`.
        clientProperties: { connection_name: options.connectionName },
        // The socket gives up on a host that never answers, not only our timer below.
        timeout: connectTimeoutMs,
      })
      // Listeners first: an 'error' event without one (a broker-side close while the topology is
      // declared, e.g. PRECONDITION_FAILED on a queue declared with other arguments) would crash
      // the process instead of failing this attempt.
      connection.on('error', (error: Error) => log.warn({ err: { message: error.message } }, 'rabbitmq connection error'))
      const lost = new Promise<Error | undefined>((resolve) => connection.once('close', resolve))
      try {
        const returned = new Set<string>()
        const opened: Session = { connection, publisher: await openPublisher({ connection, returned }), returned, unconfirmed: new Set(), lost }
        await applyTopology(opened.publisher, options.topology, (queue) => declaredAsIs(connection, queue))
        return opened
      } catch (error) {
        await connection.close().catch(() => {})
        throw error
      }
    })()
    try {
      // close() does not wait for a hung attempt: it ends the wait, and the attempt is closed when it completes.
      return await Promise.race([withTimeout(attempt, connectTimeoutMs, `RabbitMQ did not accept a connection and the topology within ${connectTimeoutMs} ms`), closing])
    } catch (error) {
      // An attempt that completes after the timeout is closed, never left open unowned.
      void attempt.then((late) => late.connection.close().catch(() => {}), () => {})
      throw error
    }
  }

  async function run(): Promise<void> {
    let failures = 0
    while (!closed) {
      let current: Session | undefined
      try {
        current = await open(nodes[node]!)
        if (closed) {
          await current.connection.close().catch(() => {})
          break
        }
        session = current
        for (const consumer of consumers.values()) {
          if (!draining) await startConsumer(current, consumer)
        }
        if (failures > 0) log.info({ node: nodeLabel(nodes[node]!), attempts: failures }, 'rabbitmq connection restored')
        failures = 0
        settleAttempt(undefined)
        const error = await current.lost
        lose(current, error)
        if (closed) break
        log.warn({ node: nodeLabel(nodes[node]!), err: error ? { message: error.message } : undefined }, 'rabbitmq connection lost; reconnecting')
        options.onDisconnect?.(error)
      } catch (error) {
        if (current) {
          lose(current, error as Error)
          await current.connection.close().catch(() => {})
        }
        if (closed) break
        failures++
        log.warn({ node: nodeLabel(nodes[node]!), attempt: failures, err: { message: (error as Error).message } }, 'rabbitmq unavailable; reconnecting')
        // Waiters hear of a failure once every node failed in this round, not while another may answer.
        if (failures % nodes.length === 0) settleAttempt(error as Error)
      }
      // A node that failed or went away is likely gone for a while: the next attempt goes elsewhere.
      node = (node + 1) % nodes.length
      const delay = reconnectDelayMs(failures, nodes.length, random)
      if (delay > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay)
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        wake = undefined
      }
    }
    settleAttempt(new PublishUnavailableError('the broker client is closed'))
  }

  /** Forgets a session whose connection ended: its publishes fail now, its consumers are down. */
  function lose(current: Session, error: Error | undefined): void {
    if (session === current) session = undefined
    const reason = new PublishUnavailableError(`RabbitMQ connection lost before the confirm${error ? `: ${error.message}` : ''}`, { cause: error })
    for (const fail of current.unconfirmed) fail(reason)
    current.unconfirmed.clear()
    // One connection at a time: every consumer was on this one.
    for (const consumer of consumers.values()) Object.assign(consumer, { up: false, channel: undefined, tag: undefined })
  }

  function start(): void {
    running ??= run()
  }

  /** The current session, or the outcome of the next attempt (started at once) within `timeoutMs`. */
  function ready(timeoutMs: number): Promise<Session> {
    if (closed) return Promise.reject(new PublishUnavailableError('the broker client is closed'))
    if (session) return Promise.resolve(session)
    start()
    wake?.()
    return new Promise<Session>((resolve, reject) => {
      const timer = setTimeout(() => finish(new PublishUnavailableError(`RabbitMQ did not accept a connection within ${timeoutMs} ms`)), timeoutMs)
      function finish(error: Error | undefined): void {
        clearTimeout(timer)
        attemptWaiters.delete(finish)
        if (!error && session) resolve(session)
        else reject(error instanceof PublishUnavailableError ? error : new PublishUnavailableError(`RabbitMQ is unavailable: ${error?.message ?? 'not connected'}`, { cause: error }))
      }
      attemptWaiters.add(finish)
    })
  }

  function confirm(current: Session, message: OutgoingMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => reject(error)
      current.unconfirmed.add(fail)
      try {
        current.publisher.publish(message.exchange, message.routingKey, message.body, {
          // Written to disk by the broker, so it survives a broker restart.
          persistent: true,
          ...message.properties,
        }, (error) => {
          current.unconfirmed.delete(fail)
          if (error) {
            refused(current)
            reject(new PublishUnavailableError('RabbitMQ refused the message (nack)', { cause: error }))
          } else {
            current.refusedSince = undefined
            current.renewed = false
            resolve()
          }
        })
      } catch (error) {
        current.unconfirmed.delete(fail)
        reject(new PublishUnavailableError(`RabbitMQ channel failed: ${(error as Error).message}`, { cause: error }))
      }
    })
  }

  const consuming = () => !draining && session !== undefined && consumers.size > 0 && [...consumers.values()].every((consumer) => consumer.up)

  async function close(): Promise<void> {
    closed = true
    markClosed()
    wake?.()
    const current = session
    session = undefined
    // Each channel's frames queue on their own: an ack just given could reach the socket after a
    // connection close and be lost (the message redelivered). Closing the consumers' channels first
    // sends their acks ahead of each close (bounded: a silent broker never answers a close).
    const channelsClosed = Promise.all([...consumers.values()].map((consumer) => consumer.channel?.close().catch(() => {})))
    await Promise.race([channelsClosed, sleep(1_000)])
    await current?.connection.close().catch(() => {})
    await running
  }

  return {
    get connected() {
      return session !== undefined
    },
    get consuming() {
      return consuming()
    },
    start,
    consumers() {
      return [...consumers.values()].map((consumer) => ({ name: consumer.options.name, consuming: !draining && session !== undefined && consumer.up }))
    },
    async connect(timeoutMs = connectTimeoutMs) {
      await ready(timeoutMs)
    },
    async whenConsuming(timeoutMs = 30_000) {
      start()
      const deadline = Date.now() + timeoutMs
      while (!consuming()) {
        if (Date.now() > deadline) throw new Error(`not consuming within ${timeoutMs} ms`)
        await sleep(20)
      }
    },
    async publish(message, publishOptions = {}) {
      const budgetMs = publishOptions.timeoutMs ?? publishTimeoutMs
      // One budget for the whole publish: connecting (when needed) and the confirm share it.
      const deadline = Date.now() + budgetMs
      const current = session ?? await ready(budgetMs)
      await withTimeout(confirm(current, message), Math.max(0, deadline - Date.now()), `RabbitMQ did not confirm within ${budgetMs} ms`)
      const id = message.properties?.messageId
      if (message.properties?.mandatory && typeof id === 'string' && current.returned.delete(id)) {
        throw new PublishUnavailableError(`no queue is bound for ${message.routingKey} on ${message.exchange}; the message was not accepted`)
      }
    },
    consume(consumerOptions, handler) {
      if (consumers.has(consumerOptions.name)) throw new Error(`a consumer named ${consumerOptions.name} is registered already`)
      const consumer: Consumer = { options: consumerOptions, handler, up: false }
      consumers.set(consumerOptions.name, consumer)
      const current = session
      if (current && !draining) {
        // Already connected: start now; a failure recycles the connection, which starts it again.
        startConsumer(current, consumer).catch((error: Error) => {
          log.warn({ consumer: consumerOptions.name, err: { message: error.message } }, 'consumer did not start; reconnecting')
          void current.connection.close().catch(() => {})
        })
      }
      start()
    },
    async drain(drainOptions) {
      if (draining) return
      draining = true
      // 1. Stop taking work.
      await Promise.all([...consumers.values()].map(async (consumer) => {
        if (consumer.channel && consumer.tag) await consumer.channel.cancel(consumer.tag).catch(() => {})
        consumer.up = false
      }))
      drainOptions.afterStop?.()
      // 2. Finish what is in flight, up to the deadline.
      const finished = await Promise.race([
        Promise.allSettled([...inFlight].map((delivery) => delivery.done)).then(() => true),
        sleep(drainOptions.deadlineMs).then(() => false),
      ])
      // 3. Hand back the rest (not a failure: it does not count toward the delivery limit), and tell
      //    the handlers to stop so nothing outlives the connection for long.
      if (!finished) {
        const unfinished = [...inFlight].filter((delivery) => !delivery.answered)
        log.warn({ inFlight: unfinished.length }, 'drain deadline reached; returning unfinished messages to their queues')
        for (const delivery of unfinished) answer(delivery, 'requeue')
        drainAbort.abort()
        await Promise.race([Promise.allSettled([...inFlight].map((delivery) => delivery.done)), sleep(drainOptions.abortGraceMs ?? 1_000)])
      }
      // 4. Close.
      await close()
    },
    close,
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PublishUnavailableError(message)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
