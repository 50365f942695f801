import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
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
}

/**
 * Runs a built service (`dist/server.js`) as its own process, with exactly the given environment
 * (plus PATH), as an operator would start it: for the tests of settings, the listening line and
 * shutdown on SIGTERM. The entry is resolved like `new URL('../dist/server.js', import.meta.url)`.
 */
export function spawnService(entry: string | URL, env: Record<string, string>): ServiceProcess {
  const path = entry instanceof URL ? fileURLToPath(entry) : entry
  if (!existsSync(path)) throw new Error(`${path} does not exist: run \`pnpm build\` (pnpm test does) before these tests`)
  const child = spawn(process.execPath, [path], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
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
  }
}
