import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { apiDocumentation } from '@arrivals/service-kit'
import { completeDocument, CONNECTOR_DESCRIPTION, CONNECTOR_TAG } from '../../connector/definition.js'
import { DeadLetter } from '../../schemas/deliveries.js'
import { ListedSubscription, Subscription, SubscriptionCreated } from '../../schemas/subscriptions.js'

/**
 * Swagger 2.0 (the only version Power Automate imports) from the route schemas, served at /docs/json
 * without a key, Swagger UI at /docs. The connector definition is derived from this same document.
 * No host in it: Swagger UI calls whatever host served it; the connector gets the public one.
 */
export default fp(async (app: FastifyInstance) => {
  await app.register(apiDocumentation, {
    schemas: [Subscription, SubscriptionCreated, ListedSubscription, DeadLetter],
    document: {
      swagger: {
        info: { title: 'Arrivals subscriptions', version: '1.0.0', description: `${CONNECTOR_DESCRIPTION} This is the whole API: the connector's operations and the operator API.` },
        consumes: ['application/json'],
        produces: ['application/json'],
        securityDefinitions: {
          api_key: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'Your tenant\'s API key.' },
          bearer: { type: 'apiKey', in: 'header', name: 'Authorization', description: '"Bearer <Entra ID access token>" when Entra ID is configured.' },
        },
        security: [{ api_key: [] }, { bearer: [] }],
        tags: [
          { name: CONNECTOR_TAG, description: 'What Power Automate and Logic Apps call (the custom connector).' },
          { name: 'subscriptions', description: 'Operator API: your subscriptions and their deliveries.' },
          { name: 'dead letters', description: 'Operator API: deliveries that were given up.' },
        ],
      },
      transformObject: (document) => completeDocument('swaggerObject' in document ? document.swaggerObject : document.openapiObject),
    },
  })
}, { name: 'subscriptions-openapi' })
