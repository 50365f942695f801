import { register } from 'node:module'
import { context, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { registerInstrumentations } from '@opentelemetry/instrumentation'
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace'

export interface TracingOptions {
  otlpEndpoint: string
  otlpProtocol: 'http/protobuf' | 'http/json'
  otlpScheduleDelayMs: number
  serviceName: string
}

/**
 * Registers the SDK globally: W3C trace context, async-local context, spans batched to OTLP/HTTP, and
 * the instrumentations. undici's is left out on purpose: it would add a second `traceparent` header
 * beside the signed webhook request's own, and record the callback URL with its query string (a
 * signature) in `url.full`; the dispatcher's attempt span is the webhook POST's client span instead.
 */
export function startTracing(options: TracingOptions): void {
  // ESM: the service imports fastify, amqplib and ioredis with `import`; this hook lets the
  // instrumentations see those modules too.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url)
  const url = `${options.otlpEndpoint.replace(/\/$/, '')}/v1/traces`
  const exporter = options.otlpProtocol === 'http/json' ? new JsonExporter({ url }) : new ProtobufExporter({ url })
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: options.otlpScheduleDelayMs })],
  })
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  trace.setGlobalTracerProvider(provider)
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      // Health and metrics scrapes are not worth a trace each.
      new HttpInstrumentation({ ignoreIncomingRequestHook: (request) => /^\/(healthz|readyz|metrics)\b/.test(request.url ?? '') }),
      new AmqplibInstrumentation(),
      new IORedisInstrumentation(),
    ],
  })
  // The last batch goes out before the process ends (SIGTERM's graceful shutdown ends in exit()).
  process.once('beforeExit', () => void provider.shutdown())
  const flush = () => void provider.forceFlush()
  process.once('SIGTERM', flush)
  process.once('SIGINT', flush)
}
