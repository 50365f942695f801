import { integer, oneOf, parsed, redactCredentials, setting, type Setting } from './settings.js'

/** The OTLP encodings the preload can send. */
export type OtlpProtocol = 'http/protobuf' | 'http/json'

// Functions, not constants: settings.ts imports this file for commonSettingsTable, so the parsers
// are made only when a table is read, after both modules have loaded.
const otlpEndpoint = () => parsed((raw, name) => {
  if (raw === undefined) return undefined
  if (!URL.canParse(raw) || !['http:', 'https:'].includes(new URL(raw).protocol)) throw new Error(`${name} must be an http or https URL, got "${redactCredentials(raw)}"`)
  return raw
}, undefined as string | undefined, '(none: no tracing)')

/**
 * The OpenTelemetry rows of every service's table. The `--import @arrivals/service-kit/telemetry`
 * preload reads them before the service's modules load (it must: instrumentation patches modules as
 * they load); the service's own settings read them too, so a bad value is reported like any other.
 */
export function telemetrySettingsTable(): { otlpEndpoint: Setting<string | undefined>; otlpProtocol: Setting<OtlpProtocol>; otlpScheduleDelayMs: Setting<number> } {
  return {
    otlpEndpoint: setting('OTEL_EXPORTER_OTLP_ENDPOINT', otlpEndpoint(),
      'OpenTelemetry collector base URL (spans go to `<url>/v1/traces`); unset: no tracing SDK is started at all'),
    otlpProtocol: setting('OTEL_EXPORTER_OTLP_PROTOCOL', oneOf<OtlpProtocol>('http/protobuf', ['http/protobuf', 'http/json']),
      'OTLP encoding: `http/protobuf` or `http/json`'),
    otlpScheduleDelayMs: setting('OTEL_BSP_SCHEDULE_DELAY', integer(5_000, { min: 1, max: 60_000 }),
      'ms between span batches sent to the collector'),
  }
}
