import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { waitFor } from '@arrivals/test-kit'
import { watchChild } from './child-output.js'
import { freePort } from '@arrivals/e2e/harness'

/**
 * A Redis server of the drill's own on a free port, with the append-only file on (as compose runs
 * it), so a restart keeps the subscriptions, the way a production Redis does.
 */
export class RedisServer {
  private child: ChildProcess | undefined
  private exit: Promise<void> = Promise.resolve()
  readonly output: string[] = []

  private constructor(readonly port: number, readonly dir: string, private readonly extraArgs: readonly string[]) {}

  /** `args`: more redis-server options, e.g. those of a cluster node. */
  static async create(options: { args?: readonly string[] } = {}): Promise<RedisServer> {
    return new RedisServer(await freePort(), await mkdtemp(join(tmpdir(), 'arrivals-drill-redis-')), options.args ?? [])
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  async start(timeoutMs = 20_000): Promise<void> {
    if (this.running) return
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--daemonize', 'no', ...this.extraArgs,
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.once('error', (error) => this.output.push(`redis-server failed to start: ${error.message} (apt-get install redis-server)`))
    this.child = child
    this.exit = watchChild(child, this.output)
    await waitFor(async () => {
      if (!this.running) throw new Error(`redis-server exited while starting:\n${this.output.join('').slice(-2000)}`)
      const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      client.on('error', () => {})
      try {
        await client.connect()
        return (await client.ping()) === 'PONG'
      } catch {
        return false
      } finally {
        client.disconnect()
      }
    }, { timeoutMs, intervalMs: 100, what: `redis-server to answer on ${this.port}` })
  }

  /** SIGTERM: Redis flushes the append-only file and exits, as on a restart by an orchestrator. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.child?.kill('SIGTERM')
    await this.exit
  }

  /** SIGKILL: the server is gone at once, as when its machine dies. */
  async kill(): Promise<void> {
    if (!this.running) return
    this.child?.kill('SIGKILL')
    await this.exit
  }

  async destroy(): Promise<void> {
    await this.stop()
    await rm(this.dir, { recursive: true, force: true })
  }
}
