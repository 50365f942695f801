import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { apiKeyAuthenticator, hashApiKey, installErrorHandling, operations, boolean, integer, parseApiKeys, readSettingsTable, setting, tenantAuth, url, ServiceUnavailableError } from '../src/index.js'

describe('parseApiKeys', () => {
  it('maps key hashes to tenants and never keeps the key', () => {
    const keys = parseApiKeys('contoso:contoso-key-0123456789, fabrikam:fabrikam-key-0123456789')
    expect(keys.get(hashApiKey('contoso-key-0123456789'))?.tenantId).toBe('contoso')
    expect([...keys.keys()].join()).not.toContain('contoso-key')
  })

  it('names the bad entry without echoing its key', () => {
    expect(() => parseApiKeys('contoso:short')).toThrow(/entry 1 \(tenant contoso\).*shorter than 16/)
    expect(() => parseApiKeys('no-separator-here-at-all')).toThrow(/entry 1 must be tenantId:key/)
  })
})

describe('readSettingsTable', () => {
  it('collects every problem before failing', () => {
    const table = {
      port: setting('PORT', integer(1, { min: 0, max: 65535 }), 'port'),
      flag: setting('FLAG', boolean(false), 'flag'),
      url: setting('URL', url('amqp://x', ['amqp:']), 'url'),
    }
    expect(() => readSettingsTable(table, { PORT: 'eighty', FLAG: 'maybe', URL: 'http://x' })).toThrow(/PORT must be an integer[\s\S]*FLAG must be true or false[\s\S]*URL must be a amqp URL/)
  })
})

describe('service plumbing', () => {
  async function app() {
    const fastify = Fastify()
    installErrorHandling(fastify)
    await fastify.register(operations, { service: 'test', readiness: { always: () => true, never: () => false } })
    await fastify.register(tenantAuth, { authenticators: [apiKeyAuthenticator((hash) => (hash === hashApiKey('a-valid-key-0123456789') ? 'contoso' : undefined))] })
    fastify.get('/whoami', async (request) => ({ tenantId: request.tenantId }))
    fastify.get('/down', async () => { throw new ServiceUnavailableError('broker is down', 7) })
    fastify.get('/bug', async () => { throw new Error('secret internals') })
    fastify.get('/redis-timeout', async () => { throw new Error('Command timed out') })
    return fastify
  }

  it('authenticates by X-API-Key and says how when credentials are missing or wrong', async () => {
    const fastify = await app()
    expect((await fastify.inject({ url: '/whoami', headers: { 'x-api-key': 'a-valid-key-0123456789' } })).json()).toEqual({ tenantId: 'contoso' })
    const missing = await fastify.inject({ url: '/whoami' })
    expect(missing.statusCode).toBe(401)
    expect(missing.json().message).toContain('X-API-Key')
    expect((await fastify.inject({ url: '/whoami', headers: { 'x-api-key': 'wrong' } })).statusCode).toBe(401)
  })

  it('answers 503 with Retry-After for outages and hides internals on 500', async () => {
    const fastify = await app()
    const headers = { 'x-api-key': 'a-valid-key-0123456789' }
    const down = await fastify.inject({ url: '/down', headers })
    expect(down.statusCode).toBe(503)
    expect(down.headers['retry-after']).toBe('7')
    const timeout = await fastify.inject({ url: '/redis-timeout', headers })
    expect(timeout.statusCode).toBe(503)
    expect(timeout.headers['retry-after']).toBeDefined()
    const bug = await fastify.inject({ url: '/bug', headers })
    expect(bug.statusCode).toBe(500)
    expect(bug.body).not.toContain('secret internals')
  })

  it('serves health, readiness and metrics without credentials', async () => {
    const fastify = await app()
    expect((await fastify.inject({ url: '/healthz' })).statusCode).toBe(200)
    const ready = await fastify.inject({ url: '/readyz' })
    expect(ready.statusCode).toBe(503)
    expect(ready.json().checks).toEqual({ always: true, never: false })
    const metrics = await fastify.inject({ url: '/metrics' })
    expect(metrics.body).toContain('http_request_duration_seconds')
  })
})
