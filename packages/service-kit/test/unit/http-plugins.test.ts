import Fastify, { type FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { describe, expect, it } from 'vitest'
import {
  ajvOptions, apiDocumentation, apiKeyAuthenticator, errorResponsesFrom, hashApiKey, installErrorHandling, rateLimitPerCredential, tenantAuth,
  type Authenticator,
} from '../../src/index.js'

const keys = new Map([[hashApiKey('contoso-key-0123456789'), 'contoso'], [hashApiKey('fabrikam-key-0123456789'), 'fabrikam']])
// A stand-in for a bearer token: the tenant is in the header, no key.
const bearer: Authenticator = (request) => request.headers.authorization?.replace(/^Bearer /, '')

async function limited(perMinute: number): Promise<FastifyInstance> {
  const app = Fastify()
  installErrorHandling(app)
  await app.register(async (api) => {
    await api.register(tenantAuth, { authenticators: [apiKeyAuthenticator((hash) => keys.get(hash)), bearer] })
    await api.register(rateLimitPerCredential, { perMinute, whose: 'these credentials' })
    api.post('/work', async (request) => ({ tenantId: request.tenantId }))
  })
  return app
}

describe('rateLimitPerCredential', () => {
  it('announces the limit, and answers 429 with Retry-After and a message once it is used up', async () => {
    const app = await limited(2)
    const call = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/work', headers, payload: {} })
    const first = await call({ 'x-api-key': 'contoso-key-0123456789' })
    expect(first.statusCode).toBe(200)
    expect(first.headers['x-ratelimit-limit']).toBe('2')
    expect(first.headers['x-ratelimit-remaining']).toBe('1')
    expect(first.headers['x-ratelimit-reset']).toBeDefined()
    await call({ 'x-api-key': 'contoso-key-0123456789' })
    const over = await call({ 'x-api-key': 'contoso-key-0123456789' })
    expect(over.statusCode).toBe(429)
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0)
    expect(over.json()).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(/rate limit of 2 requests per minute for these credentials exceeded/) })
    // Each key has its own bucket.
    expect((await call({ 'x-api-key': 'fabrikam-key-0123456789' })).statusCode).toBe(200)
  })

  it('counts a bearer token per tenant, and refuses without credentials before counting', async () => {
    const app = await limited(1)
    const call = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/work', headers, payload: {} })
    expect((await call({})).statusCode).toBe(401)
    expect((await call({ authorization: 'Bearer contoso' })).statusCode).toBe(200)
    expect((await call({ authorization: 'Bearer contoso' })).statusCode).toBe(429)
    expect((await call({ authorization: 'Bearer fabrikam' })).statusCode).toBe(200)
  })
})

describe('ajvOptions', () => {
  const body = Type.Object({ quantity: Type.Integer() }, { additionalProperties: false, 'x-ms-summary': 'Quantity' })

  async function validating(keywords?: readonly string[]) {
    const app = Fastify({ ajv: ajvOptions(keywords ? { keywords } : {}) })
    installErrorHandling(app)
    app.post('/items', { schema: { body } }, async (request) => request.body)
    await app.ready()
    return app
  }

  it('checks types as sent and names unknown fields instead of dropping them', async () => {
    const app = await validating(['x-ms-summary'])
    const post = (payload: object) => app.inject({ method: 'POST', url: '/items', payload })
    expect((await post({ quantity: 5 })).json()).toEqual({ quantity: 5 })
    expect((await post({ quantity: '5' })).statusCode).toBe(400)
    const unknown = await post({ quantity: 5, colour: 'red' })
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json().message).toContain('unknown property "colour"')
  })

  it('stays strict: a keyword the service did not declare stops the start', async () => {
    await expect(validating()).rejects.toThrow(/x-ms-summary/)
  })
})

describe('errorResponsesFrom and apiDocumentation', () => {
  const errorResponses = errorResponsesFrom({ 401: 'Missing or invalid X-API-Key.' })

  it('documents each status with the service\'s meaning, else the common one, each referring to ErrorBody', () => {
    const responses = errorResponses(401, 429, 418)
    expect(responses[401]).toMatchObject({ $ref: 'ErrorBody', description: 'Missing or invalid X-API-Key.' })
    expect(responses[429]).toMatchObject({ $ref: 'ErrorBody', description: 'Rate limit exceeded; retry after Retry-After seconds.' })
    expect(responses[418]).toMatchObject({ description: 'Error.' })
  })

  it('serves the document with the shared schemas under their $id, and Swagger UI at /docs', async () => {
    const Thing = Type.Object({ id: Type.String() }, { $id: 'Thing' })
    const app = Fastify({ ajv: ajvOptions() })
    await app.register(apiDocumentation, { schemas: [Thing], document: { openapi: { openapi: '3.1.0', info: { title: 'test', version: '1' } } } })
    app.get('/things/:id', { schema: { response: { 200: Type.Ref(Thing), ...errorResponses(401, 404) } } }, async () => ({ id: 'a' }))
    await app.ready()
    const document = (await app.inject({ url: '/docs/json' })).json()
    expect(Object.keys(document.components.schemas)).toEqual(['ErrorBody', 'Thing'])
    const responses = document.paths['/things/{id}'].get.responses
    expect(responses['401'].description).toBe('Missing or invalid X-API-Key.')
    expect(JSON.stringify(responses['401'])).toContain('#/components/schemas/ErrorBody')
    expect((await app.inject({ url: '/docs/' })).statusCode).toBe(200)
  })
})
