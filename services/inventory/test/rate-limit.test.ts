import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace } from '@arrivals/test-kit'
import { build, tenant, testSettings } from './support.js'

const ns = createNamespace('inventory-rate')
const contoso = tenant('contoso')
const fabrikam = tenant('fabrikam')
let app: FastifyInstance

beforeAll(async () => {
  app = await build(testSettings(ns, [contoso, fabrikam], { rateLimitPerMinute: 3 }))
})
afterAll(async () => {
  await app?.close()
  await ns.cleanup()
})

describe('rate limit per API key', () => {
  it('announces the limit, answers 429 with Retry-After when exceeded, and counts each key apart', async () => {
    const list = (apiKey: string) => app.inject({ method: 'GET', url: '/v1/stores', headers: { 'x-api-key': apiKey } })
    const answers = [await list(contoso.apiKey), await list(contoso.apiKey), await list(contoso.apiKey)]
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200])
    expect(answers[0]?.headers['x-ratelimit-limit']).toBe('3')
    expect(answers.map((a) => a.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0'])

    const refused = await list(contoso.apiKey)
    expect(refused.statusCode).toBe(429)
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    expect(refused.json()).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' })
    expect(refused.json().message).toMatch(/rate limit of 3 requests per minute/)

    expect((await list(fabrikam.apiKey)).statusCode).toBe(200)
  })

  it('never limits health, readiness, metrics or the documentation', async () => {
    for (let n = 0; n < 6; n++) {
      for (const url of ['/healthz', '/metrics', '/docs/json']) {
        expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200)
      }
    }
  })
})
