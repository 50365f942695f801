import { loggerOptions, runService, SettingsError } from '@arrivals/service-kit'
import { buildApp } from './app.js'
import { readSettings, type DispatcherSettings } from './settings.js'

let settings: DispatcherSettings
try {
  settings = readSettings(process.env)
} catch (error) {
  // A settings problem exits 1 with a message that says what to fix (no logger exists yet).
  process.stderr.write(`dispatcher: ${error instanceof SettingsError ? error.message : String(error)}\n`)
  process.exit(1)
}

const app = await buildApp(settings, { logger: loggerOptions('dispatcher', settings.logLevel), name: process.env.HOSTNAME ?? String(process.pid) })
// The hard deadline sits beyond the drain deadline, so a graceful drain is never cut short.
await runService({ app, port: settings.port, host: settings.host, shutdownDelayMs: settings.drainTimeoutMs + 15_000 })
const address = app.server.address()
app.log.info({ port: typeof address === 'object' && address ? address.port : settings.port, host: settings.host }, 'listening')
