import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { freePort, waitFor } from '@arrivals/test-kit'

export type ServiceName = 'inventory' | 'subscriptions' | 'dispatcher'

/** The repository root, from which `services/<name>/dist/server.js` is started. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))

/** How many log lines each process keeps for the failure report. */
const LOG_LINES_KEPT = 3_000

export { freePort }

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

/** One service running as its own operating-system process, the way compose and k8s run it. */
export class ServiceProcess {
  readonly url: string
  readonly lines: string[] = []
  private child: ChildProcess | undefined
  private exitStatus: Promise<ExitStatus> = Promise.resolve({ code: null, signal: null })
  private startedOnce = false

  constructor(
    readonly service: ServiceName,
    /** e.g. `dispatcher-2`: tells the processes apart in logs. */
    readonly label: string,
    readonly port: number,
    readonly env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Starts the process and resolves when it answers 200 on /readyz. */
  async start(readyTimeoutMs = 30_000): Promise<void> {
    const entry = `${repoRoot}services/${this.service}/dist/server.js`
    if (!existsSync(entry)) throw new Error(`${entry} does not exist: run \`pnpm build\` before the end-to-end tests`)
    if (this.running) throw new Error(`${this.label} is already running`)
    // As `pnpm start` and the image run it: the start script's node flags (the tracing preload among
    // them), from the service's folder, where the preload's package resolves.
    const child = spawn(process.execPath, [...startFlags(this.service), entry], {
      cwd: `${repoRoot}services/${this.service}`,
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(this.port), ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    this.record(`--- ${this.startedOnce ? 'restarted' : 'started'} pid ${child.pid} ---`)
    this.startedOnce = true
    for (const stream of [child.stdout, child.stderr]) {
      let partial = ''
      stream?.setEncoding('utf8')
      stream?.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n')
        partial = parts.pop() ?? ''
        for (const line of parts) this.record(line)
      })
    }
    this.exitStatus = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.record(`--- exited code=${code} signal=${signal} ---`)
        resolve({ code, signal })
      })
    })
    await this.waitReady(readyTimeoutMs)
  }

  /** Polls /readyz until it answers 200; fails at once, with the logs, if the process exits. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    await waitFor(async () => {
      if (!this.running) throw new Error(`${this.label} exited before it was ready:\n${this.tail(40)}`)
      const response = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined)
      await response?.body?.cancel()
      return response?.status === 200
    }, { timeoutMs, intervalMs: 100, what: `${this.label} to answer 200 on /readyz` }).catch((error: Error) => {
      throw new Error(`${error.message}\n${this.tail(40)}`)
    })
  }

  /** Sends a signal and waits for the exit (SIGKILL is `kill -9`: no shutdown at all). */
  async kill(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<ExitStatus> {
    if (!this.running) return this.exitStatus
    this.child?.kill(signal)
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.label} did not exit within ${timeoutMs} ms of ${signal}`)), timeoutMs)
    })
    try {
      return await Promise.race([this.exitStatus, deadline])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Graceful stop; falls back to SIGKILL so a test never leaves a process behind. */
  async stop(): Promise<ExitStatus> {
    try {
      return await this.kill('SIGTERM')
    } catch {
      return this.kill('SIGKILL')
    }
  }

  /** Resolves when the process exits (for "no process died" checks). */
  exited(): Promise<ExitStatus> {
    return this.exitStatus
  }

  tail(count = LOG_LINES_KEPT): string {
    return this.lines.slice(-count).map((line) => `[${this.label}] ${line}`).join('\n')
  }

  private record(line: string): void {
    this.lines.push(line)
    if (this.lines.length > LOG_LINES_KEPT) this.lines.splice(0, this.lines.length - LOG_LINES_KEPT)
  }
}

/** The node flags of a service's `start` script (`node [flags] dist/server.js`). */
function startFlags(service: ServiceName): string[] {
  const { scripts } = JSON.parse(readFileSync(`${repoRoot}services/${service}/package.json`, 'utf8')) as { scripts?: { start?: string } }
  const [command, ...args] = (scripts?.start ?? '').trim().split(/\s+/)
  if (command !== 'node' || args.at(-1) !== 'dist/server.js') throw new Error(`services/${service}/package.json "start" must be "node [flags] dist/server.js"`)
  return args.slice(0, -1)
}
