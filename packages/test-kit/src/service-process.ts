import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { waitFor } from './wait-for.js'

export interface ServiceProcess {
  child: ChildProcess
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>
  /** Everything written to stdout and stderr so far. */
  output(): string
  /** Waits for the service's `"msg":"listening"` log line and returns the port it names. */
  listening(timeoutMs?: number): Promise<number>
  /** Sends SIGTERM (if it still runs) and resolves with the exit code. */
  stop(): Promise<number | null>
}

export interface SpawnOptions {
  /** The working directory (an image's WORKDIR); the caller's by default. */
  cwd?: string
  /** Node flags before the entry, e.g. `--max-semi-space-size=16` from a start script or an image's CMD. */
  execArgv?: readonly string[]
}

/**
 * Runs a built service (`dist/server.js`) as its own process, with exactly the given environment
 * (plus PATH), as an operator would start it: for the tests of settings, the listening line and
 * shutdown on SIGTERM. The entry is resolved like `new URL('../dist/server.js', import.meta.url)`.
 */
export function spawnService(entry: string | URL, env: Record<string, string>, options: SpawnOptions = {}): ServiceProcess {
  const path = entry instanceof URL ? fileURLToPath(entry) : entry
  if (!existsSync(path)) throw new Error(`${path} does not exist: run \`pnpm build\` (pnpm test does) before these tests`)
  const child = spawn(process.execPath, [...(options.execArgv ?? []), path], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return {
    child,
    exited,
    output: () => output,
    async listening(timeoutMs = 20_000) {
      const line = await waitFor(() => output.split('\n').find((l) => l.includes('"msg":"listening"')), { what: 'the "listening" log line', timeoutMs })
      return (JSON.parse(line) as { port: number }).port
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}

// Below Linux's ephemeral range (32768-60999): the kernel hands those out as source ports of
// outgoing connections, so a port picked there for a service that is killed and restarted (the
// drills) could meanwhile be taken by some client's connection (seen: EADDRINUSE, then another
// process answering on the service's address).
const PORTS_FROM = 20_000
const PORTS_TO = 32_767

/** A port nobody listens on right now, outside the ephemeral range. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = PORTS_FROM + Math.floor(Math.random() * (PORTS_TO - PORTS_FROM + 1))
    if (await canListen(port)) return port
  }
  throw new Error(`no free port between ${PORTS_FROM} and ${PORTS_TO} after 100 tries`)
}

async function canListen(port: number): Promise<boolean> {
  const server = createServer()
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => resolve(true))
  })
  if (listening) await new Promise<void>((resolve) => server.close(() => resolve()))
  return listening
}
