import type { Broker } from '@arrivals/messaging'
import type { BrokerMessage, Verdict } from '../messages.js'
import type { DispatcherMetrics } from '../metrics.js'
import { ShutdownError } from '../policies/concurrency-gate.js'
import type { Log } from '../ports.js'

export type ConsumerName = 'events' | 'deliveries' | 'dead-letters'

/** A stage as a consumer runs it: one message in, the verdict out. */
export type Handler = (message: BrokerMessage) => Promise<Verdict>

/**
 * The dispatcher's three consumers on the messaging broker (which starts them again after every
 * reconnect and answers with the verdict): the messages in flight (so a shutdown can wait for them and
 * `dispatcher_in_flight_messages` counts them), the verdict of a stage that threw (`requeue` for a
 * shutdown, else `reject`), and the drain deadline passed on to the stages as their shutdown signal.
 */
export class Consumers {
  private readonly inFlight = new Set<Promise<Verdict>>()
  private drainDeadlineWatched = false

  constructor(
    private readonly broker: Pick<Broker, 'consume'>,
    private readonly metrics: DispatcherMetrics,
    private readonly log: Log,
    /** Aborted once the broker's drain deadline passes: the stages stop sending and hand their messages back. */
    private readonly shutdown: AbortController,
  ) {}

  register(name: ConsumerName, queue: string, prefetch: number, handle: Handler): void {
    this.broker.consume({ name, queue, prefetch }, (message, drainDeadline) => {
      this.watch(drainDeadline)
      return this.run(name, message, handle)
    })
  }

  /** Resolves once every message this process holds has its verdict. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight])
  }

  private run(name: ConsumerName, message: BrokerMessage, handle: Handler): Promise<Verdict> {
    this.metrics.inFlight.inc({ consumer: name })
    const done: Promise<Verdict> = handle(message)
      .catch((error: unknown): Verdict => {
        if (error instanceof ShutdownError) return 'requeue'
        this.log.error({ consumer: name, err: { message: (error as Error).message } }, 'message processing failed; returned to the queue')
        return 'reject'
      })
      .finally(() => {
        this.inFlight.delete(done)
        this.metrics.inFlight.dec({ consumer: name })
      })
    this.inFlight.add(done)
    return done
  }

  /** The broker gives every handler the one signal of its drain deadline. */
  private watch(drainDeadline: AbortSignal): void {
    if (this.drainDeadlineWatched) return
    this.drainDeadlineWatched = true
    if (drainDeadline.aborted) this.shutdown.abort()
    else drainDeadline.addEventListener('abort', () => this.shutdown.abort(), { once: true })
  }
}
