import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { SettingsError } from '@arrivals/service-kit'
import { createNamespace, spawnService, waitFor } from '@arrivals/test-kit'
import { readSettings } from '../src/settings.js'
import { tenant } from './support.js'

const ns = createNamespace('inventory-server')
afterAll(() => ns.cleanup())

describe('settings', () => {
  it('reads the defaults and the inventory settings', () => {
    const settings = readSettings({ API_KEYS: 'contoso:0123456789abcdef', CONFIRM_TIMEOUT_MS: '2500', RATE_LIMIT_PER_MINUTE: '60' })
    expect(settings).toMatchObject({ port: 3001, namespace: 'arrivals', confirmTimeoutMs: 2_500, rateLimitPerMinute: 60, idempotencyTtlSeconds: 86_400 })
    expect([...settings.apiKeys.values()].map((credential) => credential.tenantId)).toEqual(['contoso'])
  })

  it('lists every problem at once, without echoing a key', () => {
    let error: unknown
    try {
      readSettings({ API_KEYS: 'contoso:short-key', CONFIRM_TIMEOUT_MS: '60000', AMQP_URL: 'http://rabbit' })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(SettingsError)
    const { problems, message } = error as SettingsError
    expect(problems).toHaveLength(3)
    expect(message).toMatch(/CONFIRM_TIMEOUT_MS must be an integer from 100 to 10000/)
    expect(message).toMatch(/AMQP_URL must be a amqp or amqps URL/)
    expect(message).toMatch(/API_KEYS entry 1 \(tenant contoso\) has a key shorter than 16/)
    expect(message).not.toContain('short-key')
    expect(() => readSettings({})).toThrow(/API_KEYS must list at least one tenantId:key/)
  })
})

describe('README', () => {
  it('documents exactly the settings settings.ts reads', () => {
    const read = new Set<string>()
    const env = new Proxy({ API_KEYS: 'contoso:0123456789abcdef' } as Record<string, string | undefined>, {
      get: (target, name) => {
        if (typeof name === 'string') read.add(name)
        return target[name as string]
      },
    })
    readSettings(env)
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    const table = readme.slice(readme.indexOf('## Settings'), readme.indexOf('\n## ', readme.indexOf('## Settings') + 1))
    const documented = new Set([...table.matchAll(/^\| (`[A-Z_]+`(?: \/ `[A-Z_]+`)*) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([A-Z_]+)`/g)].map((n) => n[1]!)))
    expect([...documented].sort()).toEqual([...read].sort())
  })
})

const entry = new URL('../dist/server.js', import.meta.url)
const run = (env: Record<string, string>) => spawnService(entry, env)

describe('the process (dist/server.js)', () => {
  it('logs "listening" with its port, serves, and exits 0 on SIGTERM', async () => {
    const who = tenant('contoso')
    const server = run({
      AMQP_URL: ns.amqpUrl, REDIS_URL: ns.redisUrl, NAMESPACE: ns.namespace, PORT: '0', HOST: '127.0.0.1',
      API_KEYS: `${who.id}:${who.apiKey}`, LOG_LEVEL: 'info',
    })
    try {
      const port = await server.listening()
      expect(port).toBeGreaterThan(0)
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, { what: 'readiness' })
      const response = await fetch(`http://127.0.0.1:${port}/v1/stores/s-1/receipts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': who.apiKey },
        body: JSON.stringify({ supplier: 'Northwind', items: [{ sku: 'A', name: 'Apples', quantity: 1, unit: 'box' }] }),
      })
      expect(response.status).toBe(202)
      expect(server.output()).not.toContain(who.apiKey)
    } finally {
      server.child.kill('SIGTERM')
    }
    expect(await server.exited).toBe(0)
  })

  it('exits 1 with a message that says what to fix when a setting is wrong', async () => {
    const server = run({ API_KEYS: '', PORT: 'eighty' })
    expect(await server.exited).toBe(1)
    expect(server.output()).toMatch(/API_KEYS must list at least one/)
    expect(server.output()).toMatch(/PORT must be an integer/)
  })
})
