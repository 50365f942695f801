import { randomBytes } from 'node:crypto'
import { freePort, ServiceProcess, type ServiceName } from './service-process.js'

export interface Tenant {
  id: string
  /** An operator's key (`tenantId:key:operator`): the connector's routes and the operator API. */
  apiKey: string
  /** A maker's key of the same tenant (`tenantId:key`): the connector's routes only. */
  makerKey: string
}

export interface StackOptions {
  amqpUrl: string
  redisUrl: string
  namespace: string
  /** How many dispatcher processes compete for the queues (default 1). */
  dispatchers?: number
  /** Short, so retries happen within a test (default `200ms,500ms,1s`). */
  retrySchedule?: string
  logLevel?: string
  /** Extra settings per service, e.g. a delivery timeout for the drills. */
  env?: Partial<Record<ServiceName, Record<string, string>>>
}

/**
 * The whole product as separate processes: inventory, subscriptions and N dispatchers, configured
 * only through the environment, as compose, k8s and `pnpm start` run them. Two tenants with their
 * own API keys, so every test can check isolation.
 */
export class Stack {
  readonly tenants: { a: Tenant; b: Tenant }
  readonly encryptionKey = randomBytes(32).toString('base64')
  readonly retrySchedule: string
  inventory!: ServiceProcess
  subscriptions!: ServiceProcess
  readonly dispatchers: ServiceProcess[] = []

  constructor(readonly options: StackOptions) {
    const suffix = randomBytes(3).toString('hex')
    this.tenants = {
      a: { id: `tenant-a-${suffix}`, apiKey: `key-a-${randomBytes(18).toString('base64url')}`, makerKey: `maker-a-${randomBytes(18).toString('base64url')}` },
      b: { id: `tenant-b-${suffix}`, apiKey: `key-b-${randomBytes(18).toString('base64url')}`, makerKey: `maker-b-${randomBytes(18).toString('base64url')}` },
    }
    this.retrySchedule = options.retrySchedule ?? '200ms,500ms,1s'
  }

  static async start(options: StackOptions): Promise<Stack> {
    const stack = new Stack(options)
    try {
      await stack.startAll()
    } catch (error) {
      console.error(stack.logs())
      await stack.stop()
      throw error
    }
    return stack
  }

  get namespace(): string {
    return this.options.namespace
  }

  /** Every service process, for log dumps and liveness checks. */
  get processes(): ServiceProcess[] {
    return [this.inventory, this.subscriptions, ...this.dispatchers].filter(Boolean)
  }

  private common(): Record<string, string> {
    return {
      AMQP_URL: this.options.amqpUrl,
      REDIS_URL: this.options.redisUrl,
      NAMESPACE: this.options.namespace,
      LOG_LEVEL: this.options.logLevel ?? 'info',
    }
  }

  private apiKeys(): string {
    return Object.values(this.tenants).flatMap((tenant) => [`${tenant.id}:${tenant.apiKey}:operator`, `${tenant.id}:${tenant.makerKey}`]).join(',')
  }

  private async startAll(): Promise<void> {
    const subscriptionsPort = await freePort()
    this.subscriptions = new ServiceProcess('subscriptions', 'subscriptions', subscriptionsPort, {
      ...this.common(),
      API_KEYS: this.apiKeys(),
      PUBLIC_BASE_URL: `http://127.0.0.1:${subscriptionsPort}`,
      CALLBACK_ALLOW_PRIVATE: 'true',
      CALLBACK_ENCRYPTION_KEY: this.encryptionKey,
      ...this.options.env?.subscriptions,
    })
    this.inventory = new ServiceProcess('inventory', 'inventory', await freePort(), {
      ...this.common(),
      API_KEYS: this.apiKeys(),
      ...this.options.env?.inventory,
    })
    // Started one after another: the machine is small and parallel starts only add noise to timings.
    await this.subscriptions.start()
    await this.inventory.start()
    for (let index = 0; index < (this.options.dispatchers ?? 1); index++) await this.addDispatcher()
  }

  /** Starts one more dispatcher replica (also used to replace a killed one). */
  async addDispatcher(): Promise<ServiceProcess> {
    const dispatcher = new ServiceProcess('dispatcher', `dispatcher-${this.dispatchers.length + 1}`, await freePort(), {
      ...this.common(),
      CALLBACK_ENCRYPTION_KEY: this.encryptionKey,
      CALLBACK_ALLOW_PRIVATE: 'true',
      RETRY_SCHEDULE: this.retrySchedule,
      ...this.options.env?.dispatcher,
    })
    this.dispatchers.push(dispatcher)
    await dispatcher.start()
    return dispatcher
  }

  /** Every process's recent log lines, labelled, for a failure report. */
  logs(): string {
    return this.processes.map((process) => process.tail()).join('\n')
  }

  /** Names any process that is not running (a crash the test did not cause). */
  deadProcesses(): string[] {
    return this.processes.filter((process) => !process.running).map((process) => process.label)
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((process) => process.stop()))
  }
}
