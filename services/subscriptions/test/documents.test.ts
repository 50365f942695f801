import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, lintApiDocument } from '@arrivals/test-kit'
import { build, tenant, testSettings } from './support.js'

const contoso = tenant('contoso')
const ns = createNamespace('subs-documents')

describe('the served API document passes integrators\' linters', () => {
  let app: FastifyInstance
  beforeAll(async () => {
    app = await build(testSettings(ns, [contoso]))
  })
  afterAll(async () => {
    await app?.close()
    await ns.cleanup()
  })

  it('/docs/json is valid Swagger 2.0 with no error from swagger-parser, Spectral (spectral:oas) or Redocly (recommended)', async () => {
    const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
    expect(document.swagger).toBe('2.0')
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

  it('each linter does find errors: the document as TypeBox writes it (anyOf with null) and without info is refused by all three', async () => {
    const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
    const { info: _info, ...broken } = document
    broken.definitions.DeadLetter.properties.lastStatus = { anyOf: [{ type: 'integer' }, { type: 'null' }] }
    const linters = new Set((await lintApiDocument(broken)).map((error) => error.linter))
    expect(linters).toEqual(new Set(['swagger-parser', 'spectral:oas', 'redocly:recommended']))
  }, 60_000)
})
