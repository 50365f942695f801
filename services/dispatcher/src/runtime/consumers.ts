import type { BrokerMessage, Verdict } from '../messages.js'
import type { DispatcherMetrics } from '../metrics.js'
import { ShutdownError } from '../policies/concurrency-gate.js'
import type { Log } from '../ports.js'
import type { Broker, BrokerSession, Consumption, Settle } from '../adapters/broker.js'

type ConsumerName = 'events' | 'deliveries' | 'dead-letters'

/** A stage as a consumer runs it: one message in, the verdict out. */
export type Handler = (message: BrokerMessage) => Promise<Verdict>

/**
 * The dispatcher's three consumers: which are consuming (readiness, `dispatcher_consumer_up`), the
 * messages in flight (so a shutdown can drain them), and the verdict of a stage that threw: `requeue`
 * for a shutdown, else `reject`.
 */
export class Consumers {
  private readonly consumers: Record<ConsumerName, { up: boolean; consumption?: Consumption | undefined }> = {
    'events': { up: false },
    'deliveries': { up: false },
    'dead-letters': { up: false },
  }
  private readonly inFlight = new Set<Promise<void>>()

  constructor(private readonly broker: Pick<Broker, 'consume'>, private readonly metrics: DispatcherMetrics, private readonly log: Log) {
    for (const name of this.names()) this.setUp(name, false)
  }

  get allUp(): boolean {
    return this.names().every((name) => this.consumers[name].up)
  }

  get inFlightCount(): number {
    return this.inFlight.size
  }

  async start(session: BrokerSession, name: ConsumerName, queue: string, prefetch: number, handle: Handler): Promise<void> {
    const consumption = await this.broker.consume(session, queue, prefetch,
      (message, settle) => this.run(name, message, settle, handle),
      () => this.setUp(name, false))
    this.consumers[name].consumption = consumption
    this.setUp(name, true)
  }

  /** The connection is gone, and every consumer with it. */
  lost(): void {
    for (const name of this.names()) {
      this.setUp(name, false)
      this.consumers[name].consumption = undefined
    }
  }

  /** Shutdown, first step: no more messages. */
  async cancel(): Promise<void> {
    await Promise.all(this.names().map(async (name) => {
      await this.consumers[name].consumption?.cancel()
      this.setUp(name, false)
    }))
  }

  /** Resolves true once every message in flight is settled, false if `deadline` came first. */
  drained(deadline: Promise<void>): Promise<boolean> {
    const drained = Promise.allSettled([...this.inFlight]).then(() => true)
    return Promise.race([drained, deadline.then(() => false)])
  }

  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight])
  }

  private run(name: ConsumerName, message: BrokerMessage, settle: Settle, handle: Handler): void {
    this.metrics.inFlight.inc({ consumer: name })
    const done: Promise<void> = handle(message)
      .catch((error: unknown): Verdict => {
        if (error instanceof ShutdownError) return 'requeue'
        this.log.error({ consumer: name, err: { message: (error as Error).message } }, 'message processing failed; returned to the queue')
        return 'reject'
      })
      .then(settle)
      .finally(() => {
        this.inFlight.delete(done)
        this.metrics.inFlight.dec({ consumer: name })
      })
    this.inFlight.add(done)
  }

  private setUp(name: ConsumerName, up: boolean): void {
    this.consumers[name].up = up
    this.metrics.consumerState.set({ consumer: name }, up ? 1 : 0)
  }

  private names(): ConsumerName[] {
    return Object.keys(this.consumers) as ConsumerName[]
  }
}
