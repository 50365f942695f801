import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, lintApiDocument } from '@arrivals/test-kit'
import { build, tenant, testSettings } from './support.js'

const ns = createNamespace('inventory-documents')

describe('the served API document passes integrators\' linters', () => {
  let app: FastifyInstance
  beforeAll(async () => {
    app = await build(testSettings(ns, [tenant('contoso')]))
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
})
