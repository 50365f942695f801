import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { apiDocumentation } from '@arrivals/service-kit'
import { Store } from '../../schemas/stores.js'

/** OpenAPI 3 from the route schemas, served at /docs/json (no key needed) with Swagger UI at /docs. */
export default fp(async (app: FastifyInstance) => {
  await app.register(apiDocumentation, {
    schemas: [Store],
    document: {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Arrivals inventory',
          version: '1.0.0',
          description: 'Record goods receipts (published as inventory.goods-received.v1 after the broker confirmed) and keep your store catalogue.',
        },
        // Relative: the host that served the document (any deployment); generators and Try-it use it.
        servers: [{ url: '/', description: 'The inventory service that served this document.' }],
        components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'Your tenant\'s API key.' } } },
        security: [{ apiKey: [] }],
        tags: [{ name: 'receipts', description: 'Goods receipts' }, { name: 'stores', description: 'Your store catalogue' }],
      },
    },
  })
}, { name: 'inventory-openapi' })
