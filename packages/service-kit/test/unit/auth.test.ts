import Fastify, { type FastifyInstance } from 'fastify'
import { describe, expect, it } from 'vitest'
import {
  apiKeyAuthenticator, authFailureThrottle, hashApiKey, installErrorHandling, parseApiKeys, requireOperator, tenantAuth, type Credential,
} from '../../src/index.js'

describe('parseApiKeys roles', () => {
  it('reads tenantId:key as a maker\'s key and tenantId:key:operator as an operator\'s', () => {
    const keys = parseApiKeys('contoso:maker-key-0123456789,contoso:operator-key-0123456789:operator, fabrikam:explicit-0123456789:maker')
    expect(keys.get(hashApiKey('maker-key-0123456789'))).toEqual({ tenantId: 'contoso', role: 'maker' })
    expect(keys.get(hashApiKey('operator-key-0123456789'))).toEqual({ tenantId: 'contoso', role: 'operator' })
    expect(keys.get(hashApiKey('explicit-0123456789'))).toEqual({ tenantId: 'fabrikam', role: 'maker' })
    // The role is no part of the key.
    expect(keys.get(hashApiKey('operator-key-0123456789:operator'))).toBeUndefined()
    expect(() => parseApiKeys('contoso:short:operator')).toThrow(/entry 1 \(tenant contoso\).*shorter than 16/)
  })
})

describe('authFailureThrottle', () => {
  it('blocks an address after N failures in its minute, until the minute is over', () => {
    const throttle = authFailureThrottle({ perMinute: 3 })
    const t0 = 1_000_000
    for (let n = 0; n < 3; n++) {
      expect(throttle.blockedFor('10.0.0.1', t0 + n)).toBe(0)
      throttle.failed('10.0.0.1', t0 + n)
    }
    expect(throttle.blockedFor('10.0.0.1', t0 + 10)).toBe(60)
    expect(throttle.blockedFor('10.0.0.1', t0 + 45_500)).toBe(15)
    expect(throttle.blockedFor('10.0.0.2', t0 + 10)).toBe(0)
    expect(throttle.blockedFor('10.0.0.1', t0 + 60_000)).toBe(0)
  })

  it('holds at most maxAddresses, forgetting the oldest first; 0 turns it off', () => {
    const throttle = authFailureThrottle({ perMinute: 1, maxAddresses: 2 })
    for (const address of ['a', 'b', 'c']) throttle.failed(address, 0)
    expect(['a', 'b', 'c'].map((address) => throttle.blockedFor(address, 1))).toEqual([0, 60, 60])
    const off = authFailureThrottle({ perMinute: 0 })
    for (let n = 0; n < 100; n++) off.failed('a', 0)
    expect(off.blockedFor('a', 1)).toBe(0)
  })
})

describe('tenantAuth roles and failure throttle', () => {
  const keys = new Map<string, Credential>([
    [hashApiKey('maker-key-0123456789'), { tenantId: 'contoso', role: 'maker' }],
    [hashApiKey('operator-key-0123456789'), { tenantId: 'contoso', role: 'operator' }],
  ])

  async function app(failuresPerMinute: number): Promise<{ app: FastifyInstance; lookups: () => number }> {
    let lookups = 0
    const fastify = Fastify()
    installErrorHandling(fastify)
    await fastify.register(async (api) => {
      await api.register(tenantAuth, {
        failuresPerMinute,
        authenticators: [apiKeyAuthenticator((hash) => {
          lookups++
          return keys.get(hash)
        })],
      })
      api.get('/connector', async (request) => ({ tenantId: request.tenantId, role: request.role }))
      await api.register(async (operatorApi) => {
        operatorApi.addHook('onRequest', requireOperator('this key is a maker\'s key: use an operator\'s'))
        operatorApi.get('/operate', async () => ({ ok: true }))
      })
    })
    return { app: fastify, lookups: () => lookups }
  }

  it('lets makers and operators use the rest, and only operators what requireOperator guards (403 otherwise)', async () => {
    const { app: fastify } = await app(0)
    const maker = { 'x-api-key': 'maker-key-0123456789' }
    const operator = { 'x-api-key': 'operator-key-0123456789' }
    expect((await fastify.inject({ url: '/connector', headers: maker })).json()).toEqual({ tenantId: 'contoso', role: 'maker' })
    expect((await fastify.inject({ url: '/connector', headers: operator })).json()).toEqual({ tenantId: 'contoso', role: 'operator' })
    const refused = await fastify.inject({ url: '/operate', headers: maker })
    expect(refused.statusCode).toBe(403)
    expect(refused.json()).toMatchObject({ code: 'NOT_AN_OPERATOR', message: 'this key is a maker\'s key: use an operator\'s' })
    expect((await fastify.inject({ url: '/operate', headers: operator })).statusCode).toBe(200)
  })

  it('answers 429 with Retry-After once an address failed N times, before looking at any key; others and valid keys elsewhere pass', async () => {
    const { app: fastify, lookups } = await app(3)
    const from = (remoteAddress: string, headers: Record<string, string> = {}) => fastify.inject({ url: '/connector', remoteAddress, headers })
    expect((await from('10.0.0.1', { 'x-api-key': 'wrong-key-0123456789' })).statusCode).toBe(401)
    expect((await from('10.0.0.1')).statusCode).toBe(401)
    // A success neither counts nor resets the count.
    expect((await from('10.0.0.1', { 'x-api-key': 'maker-key-0123456789' })).statusCode).toBe(200)
    expect((await from('10.0.0.1', { 'x-api-key': 'wrong-key-0123456789' })).statusCode).toBe(401)
    const before = lookups()
    const throttled = await from('10.0.0.1', { 'x-api-key': 'wrong-key-0123456789' })
    expect(throttled.statusCode).toBe(429)
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0)
    expect(throttled.json()).toMatchObject({ code: 'TOO_MANY_AUTH_FAILURES', message: expect.stringMatching(/too many failed authentications from this address/) })
    expect(lookups()).toBe(before)
    expect((await from('10.0.0.2', { 'x-api-key': 'maker-key-0123456789' })).statusCode).toBe(200)
    expect((await from('10.0.0.2', { 'x-api-key': 'wrong-key-0123456789' })).statusCode).toBe(401)
  })
})
