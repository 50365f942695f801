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

type Node = Record<string, unknown>
const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && !Array.isArray(value)

/** The one value a schema allows (`const`, or an enum of one, as the document generator writes it), else none. */
function constantOf(schema: Node): unknown[] {
  if ('const' in schema) return [schema.const]
  return Array.isArray(schema.enum) && schema.enum.length === 1 ? schema.enum : []
}

/**
 * One schema said the Swagger 2.0 way, which has neither `anyOf` nor a null type: a union with null is
 * its other member marked `x-nullable` (the extension Power Automate and AutoRest read), a union of
 * constants of one type is an `enum`. Anything else is left as it is.
 */
function swagger2Schema(node: Node): Node {
  const { anyOf, ...rest } = node
  if (!Array.isArray(anyOf) || !anyOf.every(isNode)) return node
  const members = anyOf.filter((member) => member.type !== 'null')
  const nullable = members.length < anyOf.length ? { 'x-nullable': true } : {}
  if (members.length === 1) return { ...members[0], ...rest, ...nullable }
  const types = new Set(members.map((member) => member.type))
  const constants = members.map(constantOf)
  if (types.size === 1 && constants.every((constant) => constant.length === 1)) {
    return { type: [...types][0], enum: constants.flat(), ...rest, ...nullable }
  }
  return node
}

/** Every schema of a Swagger 2.0 document made expressible in Swagger 2.0 (a copy; the input is left alone). */
export function swagger2Document<T>(document: T): T {
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk)
    if (!isNode(value)) return value
    const node = swagger2Schema(value)
    return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, walk(child)]))
  }
  return walk(document) as T
}

/**
 * The API document generated from the route schemas, served at /docs/json (no credentials needed)
 * with Swagger UI at /docs. Shared schemas keep their `$id` as their name in the document.
 */
export const apiDocumentation = fp(async (app: FastifyInstance, options: ApiDocumentationOptions) => {
  for (const schema of [ErrorBody, ...options.schemas]) app.addSchema(schema)
  const { transformObject } = options.document
  await app.register(swagger, {
    ...options.document,
    // A Swagger 2.0 document is served as Swagger 2.0 (TypeBox writes nullables and unions of
    // literals as anyOf), so integrators' validators and generators take it as it is.
    ...(options.document.swagger
      ? { transformObject: (document) => swagger2Document(transformObject ? transformObject(document) : 'swaggerObject' in document ? document.swaggerObject : document.openapiObject) }
      : {}),
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'openapi' })
