import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, lintApiDocument } from '@arrivals/test-kit'
import { build, tenant, testSettings } from './support.js'

const contoso = tenant('contoso')
const ns = createNamespace('inventory-documents')

describe('the served API document passes integrators\' linters', () => {
  let app: FastifyInstance
  beforeAll(async () => {
    app = await build(testSettings(ns, [contoso]))
  })
  afterAll(async () => {
    await app?.close()
    await ns.cleanup()
  })

  it('/docs/json is valid OpenAPI 3.1, with servers, and no error from swagger-parser, Spectral (spectral:oas) or Redocly (recommended)', async () => {
    const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
    expect(document.openapi).toBe('3.1.0')
    expect(document.servers).toEqual([expect.objectContaining({ url: '/' })])
    expect(await lintApiDocument(document)).toEqual([])
  }, 60_000)

  it('GET /v1/me returns the tenant the credentials name (the tenantid of its events), documented; 401 without them', async () => {
    const me = await app.inject({ method: 'GET', url: '/v1/me', headers: { 'x-api-key': contoso.apiKey } })
    expect(me.statusCode).toBe(200)
    expect(me.json()).toEqual({ tenantId: contoso.id })
    expect((await app.inject({ method: 'GET', url: '/v1/me' })).statusCode).toBe(401)
    const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
    expect(document.paths['/v1/me'].get.operationId).toBe('getCaller')
  })
})
