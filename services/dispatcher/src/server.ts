import { startService } from '@arrivals/service-kit'
import { buildApp } from './app.js'
import { readSettings } from './settings.js'

await startService({
  service: 'dispatcher',
  env: process.env,
  readSettings,
  buildApp: (settings, logger) => buildApp(settings, { logger, name: settings.replicaName ?? String(process.pid) }),
  // The hard deadline sits beyond the drain deadline, so a graceful drain is never cut short.
  shutdownDelayMs: (settings) => settings.drainTimeoutMs + 15_000,
})
