import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { SettingsError } from '@arrivals/service-kit'
import { createNamespace, spawnService } from '@arrivals/test-kit'
import { readSettings } from '../src/settings.js'
import { tenant } from './support.js'

const ns = createNamespace('subs-server')
afterAll(() => ns.cleanup())
const encryptionKey = randomBytes(32).toString('base64')

describe('settings', () => {
  it('reads the subscriptions settings, Entra ID defaults from the tenant id', () => {
    const settings = readSettings({
      API_KEYS: 'contoso:0123456789abcdef', CALLBACK_ENCRYPTION_KEY: encryptionKey, PUBLIC_BASE_URL: 'https://api.contoso.com/arrivals/',
      CALLBACK_ALLOWED_HOSTS: '*.logic.azure.com, Prod-1.example.com', TRUST_PROXY: '10.0.0.0/8,127.0.0.1',
      ENTRA_TENANT_ID: 'abc', ENTRA_AUDIENCE: 'api://arrivals',
    })
    expect(settings).toMatchObject({
      port: 3002, publicBaseUrl: 'https://api.contoso.com/arrivals', callbackAllowPrivate: false,
      callbackAllowedHosts: ['*.logic.azure.com', 'prod-1.example.com'], trustProxy: ['10.0.0.0/8', '127.0.0.1'],
      entra: { issuer: ['https://sts.windows.net/abc/', 'https://login.microsoftonline.com/abc/v2.0'], audience: 'api://arrivals', jwksUrl: 'https://login.microsoftonline.com/abc/discovery/v2.0/keys' },
    })
    expect(settings.encryptionKey).toHaveLength(32)
  })

  it('lists every problem at once, and says how to make an encryption key', () => {
    let error: unknown
    try {
      readSettings({ API_KEYS: 'contoso:tinykey9', PUBLIC_BASE_URL: 'ftp://x', ENTRA_TENANT_ID: 'abc', CALLBACK_ALLOW_PRIVATE: 'maybe' })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(SettingsError)
    const { message } = error as SettingsError
    expect(message).toMatch(/CALLBACK_ENCRYPTION_KEY is not set.*randomBytes\(32\)/)
    expect(message).toMatch(/PUBLIC_BASE_URL must be an http\(s\) URL/)
    expect(message).toMatch(/ENTRA_AUDIENCE must be set/)
    expect(message).toMatch(/CALLBACK_ALLOW_PRIVATE must be true or false/)
    expect(message).toMatch(/API_KEYS entry 1 \(tenant contoso\) has a key shorter than 16/)
    expect(message).not.toContain('tinykey9')
    expect(() => readSettings({ CALLBACK_ENCRYPTION_KEY: encryptionKey })).toThrow(/no way to authenticate/)
  })
})

const entry = new URL('../dist/server.js', import.meta.url)
const run = (env: Record<string, string>) => spawnService(entry, env)

describe('the process (dist/server.js)', () => {
  it('logs "listening" with its port, serves the connector, and exits 0 on SIGTERM', async () => {
    const who = tenant('contoso')
    const server = run({
      AMQP_URL: ns.amqpUrl, REDIS_URL: ns.redisUrl, NAMESPACE: ns.namespace, PORT: '0', HOST: '127.0.0.1',
      API_KEYS: `${who.id}:${who.apiKey}`, CALLBACK_ENCRYPTION_KEY: encryptionKey, LOG_LEVEL: 'info',
    })
    try {
      const port = await server.listening()
      const definition = await fetch(`http://127.0.0.1:${port}/connector/apiDefinition.swagger.json`)
      expect(definition.status).toBe(200)
      expect(((await definition.json()) as { host: string }).host).toBe(`127.0.0.1:${port}`)
    } finally {
      server.child.kill('SIGTERM')
    }
    expect(await server.exited).toBe(0)
  })

  it('exits 1 with a message that says what to fix', async () => {
    const server = run({ API_KEYS: 'contoso:0123456789abcdef' })
    expect(await server.exited).toBe(1)
    expect(server.output()).toMatch(/subscriptions: invalid settings:[\s\S]*CALLBACK_ENCRYPTION_KEY is not set/)
  })
})
