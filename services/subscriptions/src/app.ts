import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import {
  ajvOptions, apiKeyAuthenticator, callerRoute, installErrorHandling, installJsonBodies, operations, rateLimitPerCredential, redisAnswers, redisPlugin, tenantAuth, type Authenticator,
} from '@arrivals/service-kit'
import { CONNECTOR_KEYWORDS } from './connector/definition.js'
import { entraIdAuthenticator } from './entra-id.js'
import deliveries from './plugins/app/deliveries.js'
import deliveryHistory from './plugins/app/delivery-history.js'
import subscriptionStore from './plugins/app/subscription-store.js'
import openapi from './plugins/external/openapi.js'
import connector from './routes/connector.js'
import operatorConsole from './routes/console.js'
import operator from './routes/operator.js'
import stores from './routes/stores.js'
import trigger from './routes/trigger.js'
import { errorResponses } from './schemas/errors.js'
import type { SubscriptionsSettings } from './settings.js'

export type { SubscriptionsSettings } from './settings.js'

/** Options only the Fastify factory takes: they hold for the whole server. */
export function serverOptions(settings: SubscriptionsSettings, logger: FastifyServerOptions['logger'] = false): FastifyServerOptions {
  return {
    logger,
    // A subscribe body is a URL and three filters: anything near this limit is not one (413).
    bodyLimit: settings.bodyLimitBytes,
    // X-Forwarded-Proto/-Host are believed only from the proxies named here (the Location's base).
    trustProxy: settings.trustProxy,
    // The Power Automate keywords on the route schemas are documentation, not validation.
    ajv: ajvOptions({ keywords: CONNECTOR_KEYWORDS }),
  }
}

/**
 * The subscriptions service as a plugin that never listens: tests register it with their own
 * settings, server.ts with the environment's.
 */
export const subscriptions = fp(async (app: FastifyInstance, { settings }: { settings: SubscriptionsSettings }) => {
  installErrorHandling(app)
  // JSON only (text/plain is a 415), and a POST without a body (…/test, …/rotate) is no error.
  installJsonBodies(app, { allowEmpty: true })

  await app.register(openapi)
  await app.register(redisPlugin, { url: settings.redisUrl, clusterNodes: settings.redisClusterNodes, connectionName: 'arrivals-subscriptions' })
  await app.register(deliveries, { url: settings.amqpUrl, namespace: settings.namespace, confirmTimeoutMs: settings.confirmTimeoutMs })
  await app.register(operations, {
    service: 'subscriptions',
    readiness: {
      redis: () => redisAnswers(app.redis),
      rabbitmq: () => app.deliveries.reachable(),
    },
  })
  await app.register(subscriptionStore, {
    namespace: settings.namespace,
    encryptionKey: settings.encryptionKey,
    quotas: { subscriptions: settings.quotaSubscriptions, subscriptionsPerStore: settings.quotaSubscriptionsPerStore },
  })
  await app.register(deliveryHistory, { namespace: settings.namespace })
  await app.register(connector, { publicBaseUrl: settings.publicBaseUrl, entraAudience: settings.entra?.audience })
  await app.register(operatorConsole)

  const authenticators: Authenticator[] = []
  if (settings.apiKeys.size > 0) authenticators.push(apiKeyAuthenticator((hash) => settings.apiKeys.get(hash)))
  if (settings.entra) authenticators.push(entraIdAuthenticator(settings.entra))

  // The API: every route here needs credentials that name a tenant and is rate limited per
  // credential. Operations, /docs and /connector/* stay outside: they need neither.
  await app.register(async (api) => {
    const withTypes = api.withTypeProvider<TypeBoxTypeProvider>()
    await withTypes.register(tenantAuth, {
      authenticators,
      hint: settings.entra ? 'send X-API-Key or Authorization: Bearer <Entra ID access token>' : "send your tenant's API key in the X-API-Key header",
      failuresPerMinute: settings.authFailuresPerMinute,
    })
    await withTypes.register(rateLimitPerCredential, { perMinute: settings.rateLimitPerMinute, whose: 'these credentials' })
    await withTypes.register(trigger, {
      namespace: settings.namespace,
      publicBaseUrl: settings.publicBaseUrl,
      callbackPolicy: { allowPrivate: settings.callbackAllowPrivate, allowedHosts: settings.callbackAllowedHosts, allowedPorts: settings.callbackAllowedPorts },
    })
    await withTypes.register(stores, { namespace: settings.namespace })
    await withTypes.register(operator)
    await withTypes.register(callerRoute, { tag: 'subscriptions', errors: errorResponses(401, 429) })
  })
}, { name: 'subscriptions' })

/** A ready-to-use instance (not listening), for server.ts, the connector export and tests. */
export async function buildApp(settings: SubscriptionsSettings, logger: FastifyServerOptions['logger'] = false): Promise<FastifyInstance> {
  const app = Fastify(serverOptions(settings, logger))
  await app.register(subscriptions, { settings })
  await app.ready()
  return app
}
