import { describe, expect, it } from 'vitest'
import { inSpan, startSpan, validTraceparent } from '../../src/trace-context.js'

const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

describe('validTraceparent', () => {
  it('carries a valid traceparent on, from a string or the first of a repeated header', () => {
    expect(validTraceparent(valid)).toBe(valid)
    expect(validTraceparent([valid, 'junk'])).toBe(valid)
  })

  it.each([
    ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['an all-zero parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['the forbidden version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['upper-case hex', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'],
    ['a short trace id', '00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01'],
    ['not a string', 42],
  ])('ignores %s', (_, value) => {
    expect(validTraceparent(value)).toBeUndefined()
  })
})

// Without a tracing SDK (none is started unless OTEL_EXPORTER_OTLP_ENDPOINT is set) our spans are
// @opentelemetry/api's no-op ones: the context carried on is exactly the one received, as before.
describe('spans without a tracing SDK', () => {
  it('carry the received traceparent on unchanged, or none', async () => {
    expect(startSpan('webhook attempt', { traceparent: valid }).traceparent).toBe(valid)
    expect(startSpan('webhook attempt').traceparent).toBeUndefined()
    await expect(inSpan('fan-out', { traceparent: valid }, async (span) => span.traceparent)).resolves.toBe(valid)
  })

  it('hand back what the work returns and rethrow what it throws', async () => {
    await expect(inSpan('publish', {}, async () => 42)).resolves.toBe(42)
    await expect(inSpan('publish', {}, async () => { throw new Error('broker away') })).rejects.toThrow('broker away')
  })
})
