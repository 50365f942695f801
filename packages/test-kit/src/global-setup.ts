import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import type { TestProject } from 'vitest/node'

/**
 * Gives the test run a real RabbitMQ and a real Redis, in this order of preference:
 * 1. AMQP_URL / REDIS_URL when set (CI, or a developer pointing at their own);
 * 2. containers started with testcontainers when a Docker engine answers;
 * 3. the local defaults (amqp://guest:guest@127.0.0.1:5672, redis://127.0.0.1:6379);
 * 4. otherwise a failure that says how to provide them.
 * The URLs reach the test files through `inject('amqpUrl')` / `inject('redisUrl')`.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    amqpUrl: string
    redisUrl: string
  }
}

const LOCAL_AMQP = 'amqp://guest:guest@127.0.0.1:5672'
const LOCAL_REDIS = 'redis://127.0.0.1:6379'

function answers(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || defaultPort), timeout: 1_000 })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => resolve(false))
  })
}

function dockerAvailable(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock')
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = process.env
  const teardowns: (() => Promise<unknown>)[] = []
  let amqpUrl = env.AMQP_URL
  let redisUrl = env.REDIS_URL

  if ((!amqpUrl || !redisUrl) && dockerAvailable()) {
    try {
      if (!amqpUrl) {
        const { RabbitMQContainer } = await import('@testcontainers/rabbitmq')
        const rabbit = await new RabbitMQContainer('rabbitmq:4.1-management-alpine').start()
        teardowns.push(() => rabbit.stop())
        amqpUrl = rabbit.getAmqpUrl()
      }
      if (!redisUrl) {
        const { RedisContainer } = await import('@testcontainers/redis')
        const redis = await new RedisContainer('redis:7.4-alpine').start()
        teardowns.push(() => redis.stop())
        redisUrl = redis.getConnectionUrl()
      }
    } catch (error) {
      console.warn(`testcontainers could not start containers (${(error as Error).message}); trying the local defaults`)
    }
  }
  amqpUrl ??= LOCAL_AMQP
  redisUrl ??= LOCAL_REDIS

  const missing: string[] = []
  if (!(await answers(amqpUrl, 5672))) missing.push(`RabbitMQ at ${new URL(amqpUrl).host}`)
  if (!(await answers(redisUrl, 6379))) missing.push(`Redis at ${new URL(redisUrl).host}`)
  if (missing.length) {
    throw new Error(
      `The tests need a real RabbitMQ and Redis; nothing answers: ${missing.join(', ')}. ` +
        'Set AMQP_URL and REDIS_URL, start a Docker engine (testcontainers starts both), ' +
        'or run them locally (apt-get install rabbitmq-server redis-server).',
    )
  }
  project.provide('amqpUrl', amqpUrl)
  project.provide('redisUrl', redisUrl)
  return async () => {
    for (const teardown of teardowns.reverse()) await teardown()
  }
}
