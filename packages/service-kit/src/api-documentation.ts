import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import swagger, { type FastifyDynamicSwaggerOptions } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TSchema } from '@sinclair/typebox'
import { ErrorBody } from './error-responses.js'

export interface ApiDocumentationOptions {
  /** The service's document: OpenAPI 3 or Swagger 2.0, its info, security and tags. */
  document: Omit<FastifyDynamicSwaggerOptions, 'refResolver'>
  /** Shared schemas the routes refer to by `$id` (ErrorBody is always there). */
  schemas: TSchema[]
}

/**
 * The API document generated from the route schemas, served at /docs/json (no credentials needed)
 * with Swagger UI at /docs. Shared schemas keep their `$id` as their name in the document.
 */
export const apiDocumentation = fp(async (app: FastifyInstance, options: ApiDocumentationOptions) => {
  for (const schema of [ErrorBody, ...options.schemas]) app.addSchema(schema)
  await app.register(swagger, {
    ...options.document,
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'openapi' })
