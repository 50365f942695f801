import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { SubscriptionsSettings } from '../settings.js'
import { apiProperties, connectorDefinition, PACKAGE_BASE_URL } from './definition.js'
import { connectorIcon } from './icon.js'

/** Path (relative to the repository's connector/ folder) → content, as `pnpm connector:export` writes it. */
export function connectorPackage(app: FastifyInstance): Map<string, string | Buffer> {
  const url = new URL(PACKAGE_BASE_URL)
  const base = { protocol: url.protocol, host: url.host, basePath: '' }
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`
  return new Map<string, string | Buffer>([
    ['apiDefinition.swagger.json', json(connectorDefinition(app.swagger(), base, 'api-key'))],
    ['apiProperties.json', json(apiProperties('api-key'))],
    ['icon.png', connectorIcon()],
    ['entra-id/apiDefinition.swagger.json', json(connectorDefinition(app.swagger(), base, 'entra-id'))],
    ['entra-id/apiProperties.json', json(apiProperties('entra-id'))],
    ['entra-id/icon.png', connectorIcon()],
  ])
}

/**
 * Settings for generating the package: the document does not depend on them (routes and schemas
 * are fixed), only the base URL does, and that is PACKAGE_BASE_URL.
 */
export function packageSettings(): SubscriptionsSettings {
  return {
    amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
    redisUrl: 'redis://127.0.0.1:6379',
    redisClusterNodes: [],
    namespace: 'arrivals',
    port: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    otlpEndpoint: undefined,
    otlpProtocol: 'http/protobuf',
    otlpScheduleDelayMs: 5_000,
    apiKeys: new Map(),
    encryptionKey: randomBytes(32),
    publicBaseUrl: PACKAGE_BASE_URL,
    trustProxy: false,
    callbackAllowPrivate: false,
    callbackAllowedHosts: [],
    entra: undefined,
    rateLimitPerMinute: 600,
    bodyLimitBytes: 65_536,
    confirmTimeoutMs: 5_000,
    authFailuresPerMinute: 0,
    quotaSubscriptions: 10_000,
    quotaSubscriptionsPerStore: 100,
  }
}
