import type { FastifyInstance, FastifySchema } from 'fastify'
import fp from 'fastify-plugin'
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client'

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's Prometheus registry; plugins register their own metrics on it. */
    metrics: Registry
  }
}

export type ReadinessCheck = () => boolean | Promise<boolean>

export interface OperationsOptions {
  service: string
  /** Each named check must pass for `/readyz` to answer 200. */
  readiness: Record<string, ReadinessCheck>
}

/**
 * `/healthz` (the process is alive: never depends on RabbitMQ or Redis, so an outage does not get
 * the pods restarted), `/readyz` (every dependency answers), and `/metrics` for Prometheus.
 */
export const operations = fp(async (app: FastifyInstance, options: OperationsOptions) => {
  const registry = new Registry()
  registry.setDefaultLabels({ service: options.service })
  collectDefaultMetrics({ register: registry })
  app.decorate('metrics', registry)

  const requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  app.addHook('onResponse', async (request, reply) => {
    requestDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    )
  })

  // Read by @fastify/swagger: operational routes stay out of the API (and connector) definition.
  const hide = { hide: true } as FastifySchema
  app.get('/healthz', { config: { public: true }, schema: hide, logLevel: 'warn' }, async () => ({ status: 'ok' }))
  app.get('/readyz', { config: { public: true }, schema: hide, logLevel: 'warn' }, async (_request, reply) => {
    const results: Record<string, boolean> = {}
    await Promise.all(Object.entries(options.readiness).map(async ([name, check]) => {
      results[name] = await Promise.resolve().then(check).catch(() => false)
    }))
    const ready = Object.values(results).every(Boolean)
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: results })
  })
  app.get('/metrics', { config: { public: true }, schema: hide, logLevel: 'warn' }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}, { name: 'arrivals-operations' })
