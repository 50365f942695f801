import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import amqp from 'amqplib'
import { waitFor } from '@arrivals/test-kit'
import { watchChild } from './child-output.js'
import { freePort } from '@arrivals/e2e/harness'

const run = promisify(execFile)

/**
 * The RabbitMQ scripts to run as the current user. Debian's /usr/sbin wrappers switch to the
 * `rabbitmq` user (and its HOME, hence the shared node's Erlang cookie), so the real scripts are
 * used directly: RABBITMQ_SCRIPTS_DIR, else the usual install locations.
 */
function scriptsDir(): string {
  const candidates = [process.env.RABBITMQ_SCRIPTS_DIR, '/usr/lib/rabbitmq/bin', '/usr/local/lib/rabbitmq/bin', '/opt/rabbitmq/sbin']
  const found = candidates.find((dir) => dir && existsSync(join(dir, 'rabbitmq-server')))
  if (!found) {
    throw new Error('the fault drills start a RabbitMQ node of their own and found no rabbitmq-server: ' +
      'install it (apt-get install rabbitmq-server) or set RABBITMQ_SCRIPTS_DIR to the directory holding rabbitmq-server and rabbitmqctl')
  }
  return found
}

/**
 * A second RabbitMQ node beside the shared one, owned by one drill file: its own node name, AMQP and
 * distribution ports, data, logs, config and Erlang cookie (HOME) in a temporary directory, and no
 * plugins (so no management or prometheus port can clash). Stopping and starting it keeps its data,
 * as a broker restart does. It registers with the machine's epmd like any other node.
 */
export class RabbitNode {
  private child: ChildProcess | undefined
  private exit: Promise<void> = Promise.resolve()
  readonly output: string[] = []

  private constructor(
    readonly nodeName: string,
    readonly port: number,
    readonly distPort: number,
    readonly dir: string,
    private readonly scripts: string,
  ) {}

  /** `cookie`: the Erlang cookie the nodes of one cluster share (else the node makes its own). */
  static async create(options: { cookie?: string } = {}): Promise<RabbitNode> {
    const scripts = scriptsDir()
    const dir = await mkdtemp(join(tmpdir(), 'arrivals-drill-rabbit-'))
    const node = new RabbitNode(`arrivals-drill-${randomBytes(4).toString('hex')}@localhost`, await freePort(), await freePort(), dir, scripts)
    await mkdir(join(dir, 'home'))
    if (options.cookie) await writeFile(join(dir, 'home', '.erlang.cookie'), options.cookie, { mode: 0o400 })
    await writeFile(join(dir, 'enabled_plugins'), '[].\n')
    // The machine's /etc/rabbitmq/rabbitmq.conf pins the shared node's listener; this file replaces it.
    await writeFile(join(dir, 'rabbitmq.conf'), [
      `listeners.tcp.local = 127.0.0.1:${node.port}`,
      // Quorum queues on a small disk: do not block publishers at the default 50 MB free.
      'disk_free_limit.absolute = 10MB',
      '',
    ].join('\n'))
    await writeFile(join(dir, 'rabbitmq-env.conf'), '')
    return node
  }

  get amqpUrl(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  private env(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      LANG: 'C.UTF-8',
      HOME: join(this.dir, 'home'),
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_PID_FILE: join(this.dir, 'rabbit.pid'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_CONF_ENV_FILE: join(this.dir, 'rabbitmq-env.conf'),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    }
  }

  /** Starts the node and resolves once it accepts an AMQP connection and opens a channel. */
  async start(timeoutMs = 90_000): Promise<void> {
    if (this.running) return
    const child = spawn(join(this.scripts, 'rabbitmq-server'), [], { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir })
    this.child = child
    this.exit = watchChild(child, this.output)
    await waitFor(async () => {
      if (!this.running) throw new Error(`rabbitmq-server exited while starting:\n${this.output.join('').slice(-3000)}`)
      const connection = await amqp.connect(this.amqpUrl, { timeout: 2_000 }).catch(() => undefined)
      if (!connection) return false
      await connection.createChannel()
      await connection.close()
      return true
    }, { timeoutMs, intervalMs: 250, what: `RabbitMQ node ${this.nodeName} to accept connections on ${this.port}` })
  }

  /** Runs rabbitmqctl against this node (as this node's user: same HOME, so same cookie) and answers its output. */
  async ctl(args: string[], timeoutMs = 60_000): Promise<string> {
    const { stdout } = await run(join(this.scripts, 'rabbitmqctl'), ['-n', this.nodeName, ...args], { env: this.env(), timeout: timeoutMs })
    return stdout
  }

  /** Stops the node gracefully (`rabbitmqctl stop`), as an operator or an orchestrator would. */
  async stop(timeoutMs = 60_000): Promise<void> {
    if (!this.running) return
    await run(join(this.scripts, 'rabbitmqctl'), ['-n', this.nodeName, 'stop'], { env: this.env(), timeout: timeoutMs })
      .catch(() => { this.child?.kill('SIGTERM') })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.exit, new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) })])
    clearTimeout(timer)
    if (this.running) {
      this.child?.kill('SIGKILL')
      await this.exit
    }
  }

  /**
   * The node's log lines at warning level and above (the last `limit`), for a drill that failed to
   * say what the broker thought meanwhile.
   */
  async logWarnings(limit = 40): Promise<string[]> {
    const dir = join(this.dir, 'log')
    const files = await readdir(dir).catch(() => [] as string[])
    const lines: string[] = []
    for (const file of files.filter((name) => name.endsWith('.log'))) {
      const text = await readFile(join(dir, file), 'utf8').catch(() => '')
      lines.push(...text.split('\n').filter((line) => /\[(warning|error|critical|alert|emergency)\]/.test(line)))
    }
    return lines.slice(-limit)
  }

  /** Stops the node and removes its data. */
  async destroy(): Promise<void> {
    await this.stop().catch(() => this.child?.kill('SIGKILL'))
    await rm(this.dir, { recursive: true, force: true })
  }
}
