import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api'

// W3C Trace Context level 1: version-traceid-parentid-flags, lower-case hex. An all-zero trace or
// parent id is invalid, and version ff is forbidden.
const TRACEPARENT = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/

/**
 * The traceparent worth carrying on, or undefined. Whatever is invalid is ignored, never refused, as
 * the specification asks. A repeated HTTP header counts as its first value.
 */
export function validTraceparent(value: unknown): string | undefined {
  const first = Array.isArray(value) ? value[0] : value
  return typeof first === 'string' && TRACEPARENT.test(first) ? first : undefined
}

/** One span of our own, as the code that makes it sees it. */
export interface TraceSpan {
  /** What to carry on (a header, a task): this span's context, or without a tracing SDK the traceparent it continued. */
  readonly traceparent: string | undefined
  setAttribute(name: string, value: string | number | boolean): void
  /** Ends the span; a problem marks it failed. */
  end(problem?: string): void
}

export interface SpanOptions {
  /** Continued when no span is active (a message's header, a task's field). */
  traceparent?: string | undefined
  kind?: 'internal' | 'producer' | 'consumer' | 'client'
  attributes?: Record<string, string | number | boolean>
}

const KINDS = { internal: SpanKind.INTERNAL, producer: SpanKind.PRODUCER, consumer: SpanKind.CONSUMER, client: SpanKind.CLIENT }
const tracer = trace.getTracer('arrivals')
const ignore = () => {}

// The tracing SDK is started only when OTEL_EXPORTER_OTLP_ENDPOINT is set (service-kit's telemetry
// preload); without it @opentelemetry/api is a no-op and these spans cost an object or two.
function open(name: string, options: SpanOptions): { span: TraceSpan; context: Context } {
  const active = context.active()
  // The active span (the HTTP request or message being handled) is the better parent: it is the
  // carried context's child already.
  const parent = trace.getSpan(active) || !options.traceparent ? active : propagation.extract(ROOT_CONTEXT, { traceparent: options.traceparent })
  const span = tracer.startSpan(name, { kind: KINDS[options.kind ?? 'internal'], ...(options.attributes ? { attributes: options.attributes } : {}) }, parent)
  // No SDK (or not sampled): nothing to record or inject, the received context travels on as it is.
  if (!span.isRecording()) return { context: active, span: { traceparent: options.traceparent, setAttribute: ignore, end: ignore } }
  const spanContext = trace.setSpan(parent, span)
  const carrier: Record<string, string> = {}
  propagation.inject(spanContext, carrier)
  return {
    context: spanContext,
    span: {
      traceparent: validTraceparent(carrier.traceparent) ?? options.traceparent,
      setAttribute: (attribute, value) => void span.setAttribute(attribute, value),
      end(problem) {
        if (problem) span.setStatus({ code: SpanStatusCode.ERROR, message: problem })
        span.end()
      },
    },
  }
}

/** Starts a span the caller ends; it is not made active (nothing the caller awaits meanwhile is its child). */
export function startSpan(name: string, options: SpanOptions = {}): TraceSpan {
  return open(name, options).span
}

/** Runs `work` inside a new active span (so what it calls, publishes and queries is the span's child), ending it after. */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: TraceSpan) => Promise<T>): Promise<T> {
  const { span, context: spanContext } = open(name, options)
  try {
    const result = await context.with(spanContext, () => work(span))
    span.end()
    return result
  } catch (error) {
    span.end(error instanceof Error ? error.message : String(error))
    throw error
  }
}
