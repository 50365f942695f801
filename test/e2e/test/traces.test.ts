import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, waitFor, type TestNamespace } from '@arrivals/test-kit'
import { PowerAutomate, Stack, freePort, postReceipt, printLogsOnFailure } from '../src/index.js'

// Traces across the real processes: every service exports its spans over OTLP/HTTP (JSON) to a
// collector stand-in in this test, and one trace runs from the receipt's POST at inventory, through
// the event's publish and the dispatcher's fan-out and attempt, to the webhook's POST at the flow.

interface ExportedSpan {
  service: string
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
}

/** OTLP/JSON ids are hex strings; an absent parent is empty or missing. */
interface OtlpJson {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] }
    scopeSpans?: { spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number }[] }[]
  }[]
}

const SERVER = 2

let ns: TestNamespace
let stack: Stack
let platform: PowerAutomate
let collector: Server
const spans: ExportedSpan[] = []
const exportPaths = new Set<string>()

beforeAll(async () => {
  const port = await freePort()
  collector = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => { body += chunk })
    request.on('end', () => {
      exportPaths.add(request.url ?? '')
      for (const resourceSpans of (JSON.parse(body) as OtlpJson).resourceSpans ?? []) {
        const service = resourceSpans.resource?.attributes?.find((attribute) => attribute.key === 'service.name')?.value.stringValue ?? ''
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) spans.push({ service, ...span, parentSpanId: span.parentSpanId ?? '' })
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => collector.listen(port, '127.0.0.1', resolve))
  const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' }
  ns = createNamespace('e2e-traces')
  stack = await Stack.start({
    amqpUrl: ns.amqpUrl, redisUrl: ns.redisUrl, namespace: ns.namespace,
    env: { inventory: tracing, subscriptions: tracing, dispatcher: tracing },
  })
  platform = await PowerAutomate.start(stack.subscriptions.url)
})

afterAll(async () => {
  await platform?.close()
  await stack?.stop()
  await new Promise((resolve) => collector?.close(resolve))
  await ns?.cleanup({ retryDelaysMs: [200, 500, 1000] })
})

printLogsOnFailure(() => stack?.logs())

/** The span and its ancestors up to the root, as far as they were exported. */
function ancestry(span: ExportedSpan): ExportedSpan[] {
  const chain = [span]
  for (let current = span; current.parentSpanId;) {
    const parent = spans.find((candidate) => candidate.traceId === current.traceId && candidate.spanId === current.parentSpanId)
    if (!parent) break
    chain.push(parent)
    current = parent
  }
  return chain
}

describe('traces', () => {
  it('run as one trace from the receipt\'s POST through fan-out and the attempt to the webhook\'s POST, across the processes', async () => {
    const a = stack.tenants.a
    const flow = await platform.saveFlow({ apiKey: a.apiKey, name: 'Traced arrivals', filters: { storeId: 'store-traced' } })
    const result = await postReceipt(stack.inventory.url, a, { storeId: 'store-traced' })
    expect(result.status, result.body).toBe(202)
    const notification = await waitFor(() => flow.notifications[0], { timeoutMs: 20_000, what: 'the webhook' })

    // One traceparent on the webhook's POST, not one of ours and one of an instrumentation's.
    expect(notification.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
    const [, traceId, parentId] = (notification.traceparent as string).split('-')
    const attempt = await waitFor(() => spans.find((span) => span.spanId === parentId), { timeoutMs: 10_000, what: 'the span the webhook names as its parent' })
    expect(attempt).toMatchObject({ service: 'arrivals-dispatcher', name: 'webhook attempt', traceId })

    // Its ancestors, exported by each process in its own batches, lead back to inventory's server span.
    const chain = await waitFor(() => {
      const found = ancestry(attempt)
      return found.at(-1)?.parentSpanId === '' ? found : undefined
    }, { timeoutMs: 10_000, what: 'the whole chain of spans' })
    const names = chain.map((span) => `${span.service} ${span.name}`)
    expect(chain.every((span) => span.traceId === traceId)).toBe(true)
    expect(names).toContain('arrivals-dispatcher fan-out')
    expect(names).toContain('arrivals-inventory publish inventory.goods-received.v1')
    expect(chain.at(-1)).toMatchObject({ service: 'arrivals-inventory', kind: SERVER })
    // Two processes, one hop: the dispatcher's spans, then (across the broker) inventory's.
    const services = chain.map((span) => span.service)
    const hop = services.indexOf('arrivals-inventory')
    expect(services.slice(0, hop).every((service) => service === 'arrivals-dispatcher')).toBe(true)
    expect(services.slice(hop).every((service) => service === 'arrivals-inventory')).toBe(true)

    // The subscribe call is traced in the subscriptions service, and every export went to /v1/traces.
    expect(spans.some((span) => span.service === 'arrivals-subscriptions' && span.kind === SERVER)).toBe(true)
    expect([...exportPaths]).toEqual(['/v1/traces'])
  })
})
