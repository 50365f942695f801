// The tracing preload: `node --import @arrivals/service-kit/telemetry dist/server.js` (the start
// scripts and the image's CMD). It runs before the service's own modules, so that the
// instrumentations can patch http, amqplib and ioredis as they load. Without
// OTEL_EXPORTER_OTLP_ENDPOINT it loads nothing more: @opentelemetry/api stays a no-op.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { readSettingsTable } from './settings.js'
import { telemetrySettingsTable } from './telemetry-settings.js'

let settings
try {
  settings = readSettingsTable(telemetrySettingsTable(), process.env)
} catch {
  // The service reads the same rows and exits with the problem; nothing is traced meanwhile.
}
if (settings?.otlpEndpoint) {
  const { startTracing } = await import('./tracing-sdk.js')
  startTracing({ ...settings, otlpEndpoint: settings.otlpEndpoint, serviceName: serviceName() })
}

/** The service's package name (`@arrivals/dispatcher` → `arrivals-dispatcher`), from beside its dist/server.js. */
function serviceName(): string {
  if (process.env.OTEL_SERVICE_NAME) return process.env.OTEL_SERVICE_NAME
  try {
    const entry = process.argv[1] ?? ''
    const { name } = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { name?: string }
    return name ? name.replace(/^@/, '').replace('/', '-') : 'arrivals'
  } catch {
    return 'arrivals'
  }
}
