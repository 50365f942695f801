import { loggerOptions, runService, SettingsError } from '@arrivals/service-kit'
import { buildApp } from './app.js'
import { readSettings } from './settings.js'

let settings
try {
  settings = readSettings(process.env)
} catch (error) {
  process.stderr.write(`subscriptions: ${error instanceof SettingsError ? error.message : String(error)}\n`)
  process.exit(1)
}

const app = await buildApp(settings, loggerOptions('subscriptions', settings.logLevel))
await runService({ app, port: settings.port, host: settings.host })
const address = app.server.address()
app.log.info({ port: typeof address === 'object' && address ? address.port : settings.port, host: settings.host, namespace: settings.namespace }, 'listening')
