import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { hashApiKey, type Role } from '@arrivals/service-kit'
import type { TestNamespace } from '@arrivals/test-kit'
import { buildApp } from '../src/app.js'
import type { SubscriptionsSettings } from '../src/settings.js'

export interface TestTenant {
  id: string
  apiKey: string
  role: Role
}

/** A tenant's key: an operator's unless asked for a maker's (most tests use the operator API). */
export function tenant(name: string, role: Role = 'operator'): TestTenant {
  return { id: `${name}-${randomBytes(3).toString('hex')}`, apiKey: `key-${name}-${randomBytes(18).toString('base64url')}`, role }
}

/** Another key of the same tenant, with another role. */
export function sameTenant(who: TestTenant, role: Role): TestTenant {
  return { id: who.id, apiKey: `key-${role}-${randomBytes(18).toString('base64url')}`, role }
}

export const PUBLIC_BASE_URL = 'https://arrivals.test.example'

export function testSettings(ns: TestNamespace, tenants: TestTenant[], overrides: Partial<SubscriptionsSettings> = {}): SubscriptionsSettings {
  return {
    amqpUrl: ns.amqpUrl,
    redisUrl: ns.redisUrl,
    redisClusterNodes: [],
    namespace: ns.namespace,
    port: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    otlpEndpoint: undefined,
    otlpProtocol: 'http/protobuf',
    otlpScheduleDelayMs: 5_000,
    apiKeys: new Map(tenants.map((t) => [hashApiKey(t.apiKey), { tenantId: t.id, role: t.role }])),
    encryptionKey: randomBytes(32),
    publicBaseUrl: PUBLIC_BASE_URL,
    trustProxy: false,
    callbackAllowPrivate: true,
    callbackAllowedHosts: [],
    entra: undefined,
    rateLimitPerMinute: 10_000,
    bodyLimitBytes: 65_536,
    confirmTimeoutMs: 5_000,
    authFailuresPerMinute: 0,
    quotaSubscriptions: 10_000,
    quotaSubscriptionsPerStore: 100,
    ...overrides,
  }
}

export function build(settings: SubscriptionsSettings, logger: FastifyServerOptions['logger'] = process.env.TEST_LOG ? { level: 'warn' } : false): Promise<FastifyInstance> {
  return buildApp(settings, logger)
}

export const as = (who: TestTenant) => ({ 'x-api-key': who.apiKey })

/** A Logic Apps-like callback URL whose `sig` is a secret the tests look for in logs and listings. */
export function callbackUrl(host = 'prod-12.westeurope.logic.azure.com'): { url: string; sig: string } {
  const sig = `SIG${randomBytes(24).toString('hex')}`
  const workflow = randomBytes(8).toString('hex')
  return { url: `https://${host}/workflows/${workflow}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${sig}`, sig }
}

export function subscribe(app: FastifyInstance, who: TestTenant, body: Record<string, unknown>, headers: Record<string, string> = {}, trigger = '/v1/triggers/goods-received') {
  return app.inject({ method: 'POST', url: trigger, headers: { ...as(who), ...headers }, payload: body })
}

/** Subscribes with the stock-adjusted trigger. */
export function subscribeToAdjustments(app: FastifyInstance, who: TestTenant, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return subscribe(app, who, body, headers, '/v1/triggers/stock-adjusted')
}
