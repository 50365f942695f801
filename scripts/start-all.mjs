#!/usr/bin/env node
// pnpm start: the three built services, each started as its package.json `start` script says (node
// with the same flags as the image's CMD, then dist/server.js), against a local RabbitMQ and Redis,
// with the default settings, each line prefixed with its service's name.
// SIGTERM/SIGINT are forwarded, so each service shuts down gracefully; if one exits on its own,
// the others are stopped and its exit code is ours. Run `pnpm build` first.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const services = [
  { name: 'inventory', port: 3001, color: 36 },
  { name: 'subscriptions', port: 3002, color: 35 },
  { name: 'dispatcher', port: 3003, color: 33 },
]

// DEVELOPMENT ONLY, the same public values as docker-compose.yml: never use them for real data.
const developmentDefaults = {
  API_KEYS: 'demo:demo-key-0123456789abcdef:operator',
  CALLBACK_ENCRYPTION_KEY: 'YXJyaXZhbHMtZGV2LW9ubHktTk9ULUEtU0VDUkVUISE=',
}
const env = { ...process.env }
for (const [name, value] of Object.entries(developmentDefaults)) {
  if (env[name]) continue
  env[name] = value
  console.warn(`start: ${name} is not set; using the public development value ${name}=${value} (development only: set your own for anything else)`)
}
// Local flows (pnpm demo's receiver) listen on loopback; the connector's links point here.
env.CALLBACK_ALLOW_PRIVATE ??= 'true'
env.PUBLIC_BASE_URL ??= 'http://localhost:3002'

const missing = services.filter(({ name }) => !existsSync(join(root, 'services', name, 'dist/server.js')))
if (missing.length) {
  console.error(`start: ${missing.map(({ name }) => `services/${name}/dist/server.js`).join(', ')} not found: run \`pnpm build\` first`)
  process.exit(1)
}

// `node [flags] dist/server.js` from each service's `start` script: the flags the image's CMD uses too.
const nodeArguments = new Map(services.map(({ name }) => {
  const { scripts } = JSON.parse(readFileSync(join(root, 'services', name, 'package.json'), 'utf8'))
  const [command, ...args] = (scripts?.start ?? '').trim().split(/\s+/)
  if (command !== 'node' || args.at(-1) !== 'dist/server.js') {
    console.error(`start: services/${name}/package.json "start" must be "node [flags] dist/server.js", got "${scripts?.start}"`)
    process.exit(1)
  }
  return [name, args]
}))

const tty = process.stdout.isTTY
const label = ({ name, color }) => (tty ? `\x1b[${color}m${name.padEnd(13)}\x1b[0m│ ` : `${name.padEnd(13)}| `)
let stopping = false
let exitCode = 0

const children = services.map((service) => {
  const child = spawn(process.execPath, nodeArguments.get(service.name), {
    cwd: join(root, 'services', service.name),
    env: { ...env, PORT: String(service.port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  for (const [stream, out] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
    createInterface({ input: stream }).on('line', (line) => out.write(`${label(service)}${line}\n`))
  }
  child.on('exit', (code, signal) => {
    process.stdout.write(`${label(service)}exited (${signal ?? `code ${code}`})\n`)
    if (!stopping) {
      exitCode = code || 1
      stop('SIGTERM')
    } else if (code) exitCode = code
    if (children.every((other) => other.exitCode !== null || other.signalCode !== null)) process.exit(exitCode)
  })
  return child
})

function stop(signal) {
  stopping = true
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal)
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGTERM'))
