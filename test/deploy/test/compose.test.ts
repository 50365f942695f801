import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { repoRoot } from '../src/kustomize.js'
import { settingsRead } from '../src/policy.js'
import { validateCompose } from '../src/validate.js'

type Service = {
  image?: string
  build?: { args?: Record<string, string> }
  environment?: Record<string, string>
  ports?: string[]
  healthcheck?: { test: string[] }
  depends_on?: Record<string, { condition: string }>
  deploy?: { replicas?: number }
  stop_grace_period?: string
  profiles?: string[]
}
const compose = parse(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> }
const services = ['inventory', 'subscriptions', 'dispatcher'] as const
const ports = { inventory: 3001, subscriptions: 3002, dispatcher: 3003 }

describe('docker-compose.yml', () => {
  it('is valid against the compose-spec schema', () => {
    expect(validateCompose(compose)).toBeUndefined()
    expect(validateCompose({ services: { inventory: { imagee: 'arrivals-inventory:dev' } } })).toContain('must NOT have additional properties')
  })

  it('has a health check on every container, and waits for healthy RabbitMQ and Redis', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.healthcheck?.test?.[0], name).toBe('CMD')
    }
    for (const name of services) {
      expect(compose.services[name]!.depends_on).toEqual({ rabbitmq: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } })
      expect(compose.services[name]!.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${ports[name]}/readyz`)
    }
  })

  it('runs RabbitMQ 4.x with the management UI, Redis with the append-only file, two dispatchers', () => {
    expect(compose.services.rabbitmq!.image).toMatch(/^rabbitmq:4\.\d+-management/)
    expect((compose.services.redis as { command: string[] }).command.join(' ')).toContain('--appendonly yes')
    expect(compose.services.dispatcher!.deploy?.replicas).toBe(2)
    expect(compose.services.receiver).toBeDefined()
  })

  it('publishes only the connector API, inventory and the RabbitMQ UI, on 127.0.0.1', () => {
    // The default stack; services of an opt-in profile (observability) are checked on their own below.
    const published = Object.entries(compose.services).filter(([, service]) => !service.profiles).flatMap(([name, service]) => (service.ports ?? []).map((port) => `${name} ${port}`))
    expect(published.sort()).toEqual(['inventory 127.0.0.1:3001:3001', 'rabbitmq 127.0.0.1:15672:15672', 'subscriptions 127.0.0.1:3002:3002'])
  })

  it('gives each service its port and only settings it reads, with working development defaults', () => {
    for (const name of services) {
      const service = compose.services[name]!
      expect(service.build?.args?.SERVICE).toBe(name)
      const environment = service.environment ?? {}
      expect(environment.PORT).toBe(String(ports[name]))
      const reads = settingsRead(repoRoot, name)
      expect(Object.keys(environment).filter((setting) => !reads.has(setting)), name).toEqual([])
    }
    const defaultOf = (value: string) => /^\$\{\w+:-(.*)\}$/.exec(value)?.[1] ?? value
    const key = Buffer.from(defaultOf(compose.services.subscriptions!.environment!.CALLBACK_ENCRYPTION_KEY!), 'base64')
    expect(key.length).toBe(32)
    expect(defaultOf(compose.services.dispatcher!.environment!.CALLBACK_ENCRYPTION_KEY!)).toBe(defaultOf(compose.services.subscriptions!.environment!.CALLBACK_ENCRYPTION_KEY!))
    for (const name of ['inventory', 'subscriptions'] as const) {
      expect(defaultOf(compose.services[name]!.environment!.API_KEYS!)).toMatch(/^[\w-]+:[^,]{16,}$/)
    }
  })

  it('sets its own AMQP_URL and REDIS_URL, never taken from the shell (which may export localhost URLs for the tests)', () => {
    for (const name of services) {
      const environment = compose.services[name]!.environment!
      expect(new URL(environment.AMQP_URL!).hostname, name).toBe('rabbitmq')
      expect(new URL(environment.REDIS_URL!).hostname, name).toBe('redis')
      expect(`${environment.AMQP_URL} ${environment.REDIS_URL}`, name).not.toContain('${')
    }
  })

  it('stops the dispatchers later than their drain deadline plus the hard-exit margin', () => {
    const dispatcher = compose.services.dispatcher!
    const drainMs = Number(/:-(\d+)/.exec(dispatcher.environment!.DRAIN_TIMEOUT_MS!)![1])
    expect(Number.parseInt(dispatcher.stop_grace_period!, 10) * 1000).toBeGreaterThan(drainMs + 15_000)
  })

  describe('the cluster profile', () => {
    const onCluster = { inventory: 'inventory-on-cluster', subscriptions: 'subscriptions-on-cluster', dispatcher: 'dispatcher-on-cluster' } as const
    const profileOf = (name: string) => compose.services[name]?.profiles

    it('adds three RabbitMQ nodes and a Redis Cluster of six, only with --profile cluster', () => {
      for (const name of ['rabbitmq-1', 'rabbitmq-2', 'rabbitmq-3', ...[1, 2, 3, 4, 5, 6].map((n) => `redis-cluster-${n}`), 'redis-cluster-create', ...Object.values(onCluster)]) {
        expect(profileOf(name), name).toEqual(['cluster'])
      }
      for (const n of [1, 2, 3, 4, 5, 6]) expect((compose.services[`redis-cluster-${n}`] as { command: string[] }).command.join(' ')).toContain('--cluster-enabled yes')
      expect((compose.services['redis-cluster-create'] as { command: string[] }).command.join(' ')).toContain('--cluster-replicas 1')
    })

    it('points the services at every RabbitMQ node and the Redis Cluster, with only settings they read', () => {
      for (const [service, name] of Object.entries(onCluster)) {
        const environment = compose.services[name]!.environment!
        expect(environment.AMQP_URL!.split(',').map((node) => new URL(node).hostname), name).toEqual(['rabbitmq-1', 'rabbitmq-2', 'rabbitmq-3'])
        expect(environment.REDIS_CLUSTER_NODES!.split(','), name).toHaveLength(3)
        const reads = settingsRead(repoRoot, service)
        expect(Object.keys(environment).filter((setting) => !reads.has(setting)), name).toEqual([])
      }
      expect(compose.services[onCluster.dispatcher]!.deploy?.replicas).toBe(2)
      const published = Object.values(onCluster).flatMap((name) => compose.services[name]!.ports ?? [])
      expect(published.sort()).toEqual(['127.0.0.1:3011:3001', '127.0.0.1:3012:3002'])
    })
  })
})
