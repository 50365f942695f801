import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import {
  ajvOptions, apiKeyAuthenticator, callerRoute, installErrorHandling, installJsonBodies, operations, rateLimitPerCredential, redisAnswers, redisPlugin, tenantAuth,
} from '@arrivals/service-kit'
import events from './plugins/app/events.js'
import idempotency from './plugins/app/idempotency.js'
import storeCatalogue from './plugins/app/store-catalogue.js'
import openapi from './plugins/external/openapi.js'
import adjustments from './routes/adjustments.js'
import receipts from './routes/receipts.js'
import { errorResponses } from './schemas/errors.js'
import stores from './routes/stores.js'
import type { InventorySettings } from './settings.js'

export type { InventorySettings } from './settings.js'

/** Bodies over 1 MB are refused with 413 before they are parsed. */
export const BODY_LIMIT_BYTES = 1_048_576

/** How long a pending Idempotency-Key claim lasts unless its request, still alive, renews it. */
export const IDEMPOTENCY_LEASE_MS = 5_000

/** How long readiness waits for a RabbitMQ connection before it says "not ready". */
const READINESS_CONNECT_MS = 2_000

/** Options only the Fastify factory takes: they hold for the whole server. */
export function serverOptions(logger: FastifyServerOptions['logger'] = false): FastifyServerOptions {
  return {
    logger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Defaults are applied by the handler, so an Idempotency-Key hash covers the body as sent.
    ajv: ajvOptions({ useDefaults: false }),
  }
}

/**
 * The inventory service as a plugin that never listens: tests register it with their own settings,
 * server.ts with the environment's.
 */
export const inventory = fp(async (app: FastifyInstance, { settings }: { settings: InventorySettings }) => {
  installErrorHandling(app)
  // JSON only: anything else (text/plain included) is a 415; a compressed body gets a 415 that says so
  // (Fastify does not decompress: it would be read as invalid JSON and get a 400 that blames the JSON).
  installJsonBodies(app)

  await app.register(openapi)
  await app.register(redisPlugin, { url: settings.redisUrl, clusterNodes: settings.redisClusterNodes, connectionName: 'arrivals-inventory' })
  await app.register(operations, {
    service: 'inventory',
    readiness: {
      rabbitmq: () => app.events.reachable(READINESS_CONNECT_MS),
      redis: () => redisAnswers(app.redis),
    },
  })
  await app.register(events, { url: settings.amqpUrl, namespace: settings.namespace, confirmTimeoutMs: settings.confirmTimeoutMs })
  await app.register(storeCatalogue, { namespace: settings.namespace, quota: settings.quotaStores })
  await app.register(idempotency, {
    namespace: settings.namespace,
    ttlSeconds: settings.idempotencyTtlSeconds,
    // A claim whose request died holds its key 5 s at most (409 meanwhile), however long a live one may take.
    pendingLeaseMs: IDEMPOTENCY_LEASE_MS,
    pendingMaxMs: Math.max(30_000, settings.confirmTimeoutMs * 3),
  })

  // The API: every route here needs a tenant's API key and is rate limited per key. Operations
  // (/healthz, /readyz, /metrics) and the documentation (/docs) stay outside, so they need neither.
  await app.register(async (api) => {
    const withTypes = api.withTypeProvider<TypeBoxTypeProvider>()
    await withTypes.register(tenantAuth, {
      authenticators: [apiKeyAuthenticator((hash) => settings.apiKeys.get(hash))],
      failuresPerMinute: settings.authFailuresPerMinute,
    })
    await withTypes.register(rateLimitPerCredential, { perMinute: settings.rateLimitPerMinute, whose: 'this API key' })
    const publishing = { eventSource: settings.eventSource, confirmTimeoutMs: settings.confirmTimeoutMs }
    await withTypes.register(receipts, publishing)
    await withTypes.register(adjustments, publishing)
    await withTypes.register(stores)
    await withTypes.register(callerRoute, { tag: 'stores', errors: errorResponses(401, 429) })
  })
}, { name: 'inventory' })

/** A ready-to-use instance (not listening), for server.ts and tests. */
export async function buildApp(settings: InventorySettings, logger: FastifyServerOptions['logger'] = false): Promise<FastifyInstance> {
  const app = Fastify(serverOptions(logger))
  await app.register(inventory, { settings })
  await app.ready()
  return app
}
