import { describe, expect, it } from 'vitest'
import { findInfrastructure, LOCAL_AMQP, LOCAL_REDIS, type InfrastructureProbes } from '../src/global-setup.js'

/** Probes that record what was asked; every server answers unless told otherwise. */
function probes(overrides: Partial<InfrastructureProbes> & { down?: string[] } = {}) {
  const calls: string[] = []
  const stopped: string[] = []
  const container = (name: string, url: string) => async () => {
    calls.push(`start ${name}`)
    return { url, stop: async () => { stopped.push(name) } }
  }
  const all: InfrastructureProbes = {
    env: {},
    dockerAnswers: async () => { calls.push('docker?'); return false },
    startRabbitMq: container('rabbitmq', 'amqp://guest:guest@127.0.0.1:32768'),
    startRedis: container('redis', 'redis://127.0.0.1:32769'),
    answers: async (url) => !(overrides.down ?? []).some((host) => url.includes(host)),
    warn: (message) => { calls.push(`warn ${message}`) },
    ...overrides,
  }
  return { probes: all, calls, stopped }
}

describe('where the tests find RabbitMQ and Redis', () => {
  it('1. takes AMQP_URL and REDIS_URL when set, without asking Docker', async () => {
    const { probes: p, calls } = probes({ env: { AMQP_URL: 'amqp://ci:5672', REDIS_URL: 'redis://ci:6379' } })
    await expect(findInfrastructure(p)).resolves.toMatchObject({ amqpUrl: 'amqp://ci:5672', redisUrl: 'redis://ci:6379' })
    expect(calls).toEqual([])
  })

  it('2. starts containers when a Docker engine answers, only for what is not set, and stops them', async () => {
    const { probes: p, calls, stopped } = probes({ env: { AMQP_URL: 'amqp://ci:5672' }, dockerAnswers: async () => true })
    const found = await findInfrastructure(p)
    expect(found).toMatchObject({ amqpUrl: 'amqp://ci:5672', redisUrl: 'redis://127.0.0.1:32769' })
    expect(calls).toEqual(['start redis'])
    await found.teardown()
    expect(stopped).toEqual(['redis'])
  })

  it('3. falls back to the local defaults when no Docker engine answers, or containers fail to start', async () => {
    const none = probes()
    await expect(findInfrastructure(none.probes)).resolves.toMatchObject({ amqpUrl: LOCAL_AMQP, redisUrl: LOCAL_REDIS })
    expect(none.calls).toEqual(['docker?'])

    const broken = probes({ dockerAnswers: async () => true, startRabbitMq: async () => { throw new Error('pull failed') } })
    await expect(findInfrastructure(broken.probes)).resolves.toMatchObject({ amqpUrl: LOCAL_AMQP, redisUrl: LOCAL_REDIS })
    expect(broken.calls).toEqual([expect.stringMatching(/^warn testcontainers could not start containers \(pull failed\)/)])
  })

  it('4. otherwise fails with a message that says how to provide them, stopping what it started', async () => {
    const { probes: p, stopped } = probes({ env: { REDIS_URL: 'redis://nowhere:6379' }, dockerAnswers: async () => true, down: ['32768', 'nowhere'] })
    const failure = findInfrastructure(p)
    await expect(failure).rejects.toThrow(/nothing answers: RabbitMQ at 127\.0\.0\.1:32768, Redis at nowhere:6379/)
    await expect(failure).rejects.toThrow(/Set AMQP_URL and REDIS_URL, start a Docker engine .*apt-get install rabbitmq-server redis-server/)
    expect(stopped).toEqual(['rabbitmq'])
  })

  it('treats an empty AMQP_URL as unset', async () => {
    const { probes: p } = probes({ env: { AMQP_URL: '', REDIS_URL: '' } })
    await expect(findInfrastructure(p)).resolves.toMatchObject({ amqpUrl: LOCAL_AMQP, redisUrl: LOCAL_REDIS })
  })
})
