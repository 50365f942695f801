import { describe, expect, it } from 'vitest'
import { readSettingsTable, telemetrySettingsTable, type SettingsError } from '../../src/index.js'

describe('telemetrySettingsTable', () => {
  it('is off without OTEL_EXPORTER_OTLP_ENDPOINT, and protobuf every 5 s by default', () => {
    expect(readSettingsTable(telemetrySettingsTable(), {})).toEqual({ otlpEndpoint: undefined, otlpProtocol: 'http/protobuf', otlpScheduleDelayMs: 5_000 })
  })

  it('takes an http(s) collector URL and the JSON encoding', () => {
    const settings = readSettingsTable(telemetrySettingsTable(), { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })
    expect(settings).toMatchObject({ otlpEndpoint: 'http://otel-collector:4318', otlpProtocol: 'http/json' })
  })

  it('refuses a gRPC protocol and a URL that is not http(s), without showing credentials', () => {
    try {
      readSettingsTable(telemetrySettingsTable(), { OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://user:pw@collector', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })
      expect.unreachable()
    } catch (error) {
      const { problems } = error as SettingsError
      expect(problems).toHaveLength(2)
      expect(problems.join('\n')).not.toContain('pw')
    }
  })
})
