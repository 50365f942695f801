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

export const LOCAL_AMQP = 'amqp://guest:guest@127.0.0.1:5672'
export const LOCAL_REDIS = 'redis://127.0.0.1:6379'

interface StartedContainer {
  url: string
  stop(): Promise<unknown>
}

/** Everything the choice depends on, so the order can be tested without Docker or servers. */
export interface InfrastructureProbes {
  env: { AMQP_URL?: string; REDIS_URL?: string }
  /** True when a container engine answers (testcontainers' own detection: socket, context, rootless). */
  dockerAnswers(): Promise<boolean>
  startRabbitMq(): Promise<StartedContainer>
  startRedis(): Promise<StartedContainer>
  /** True when something accepts a TCP connection at the URL's host and port. */
  answers(url: string, defaultPort: number): Promise<boolean>
  warn(message: string): void
}

export interface Infrastructure {
  amqpUrl: string
  redisUrl: string
  /** Stops the containers this run started (none when the URLs came from elsewhere). */
  teardown(): Promise<void>
}

export async function findInfrastructure(probes: InfrastructureProbes): Promise<Infrastructure> {
  const started: StartedContainer[] = []
  const teardown = async () => {
    for (const container of started.reverse()) await container.stop()
  }
  let amqpUrl = probes.env.AMQP_URL || undefined
  let redisUrl = probes.env.REDIS_URL || undefined

  if ((!amqpUrl || !redisUrl) && (await probes.dockerAnswers())) {
    try {
      if (!amqpUrl) {
        const rabbit = await probes.startRabbitMq()
        started.push(rabbit)
        amqpUrl = rabbit.url
      }
      if (!redisUrl) {
        const redis = await probes.startRedis()
        started.push(redis)
        redisUrl = redis.url
      }
    } catch (error) {
      probes.warn(`testcontainers could not start containers (${(error as Error).message}); trying the local defaults`)
    }
  }
  amqpUrl ??= LOCAL_AMQP
  redisUrl ??= LOCAL_REDIS

  const missing: string[] = []
  if (!(await probes.answers(amqpUrl, 5672))) missing.push(`RabbitMQ at ${new URL(amqpUrl).host}`)
  if (!(await probes.answers(redisUrl, 6379))) missing.push(`Redis at ${new URL(redisUrl).host}`)
  if (missing.length) {
    await teardown()
    throw new Error(
      `The tests need a real RabbitMQ and Redis; nothing answers: ${missing.join(', ')}. ` +
      'Set AMQP_URL and REDIS_URL, start a Docker engine (testcontainers starts both), ' +
      'or run them locally (apt-get install rabbitmq-server redis-server).',
    )
  }
  return { amqpUrl, redisUrl, teardown }
}

function answers(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || defaultPort), timeout: 1_000 })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => resolve(false))
  })
}

/** The real probes: the environment, testcontainers and TCP. */
export const realProbes: InfrastructureProbes = {
  env: process.env,
  async dockerAnswers() {
    try {
      // testcontainers tries every way to reach an engine (DOCKER_HOST, ~/.testcontainers.properties,
      // the Docker context, /var/run/docker.sock, rootless sockets) and pings it: "a Docker engine
      // answers", not merely "a socket file exists".
      const { getContainerRuntimeClient } = await import('testcontainers')
      await getContainerRuntimeClient()
      return true
    } catch {
      return false
    }
  },
  async startRabbitMq() {
    const { RabbitMQContainer } = await import('@testcontainers/rabbitmq')
    const rabbit = await new RabbitMQContainer('rabbitmq:4.1-management-alpine').start()
    return { url: rabbit.getAmqpUrl(), stop: () => rabbit.stop() }
  },
  async startRedis() {
    const { RedisContainer } = await import('@testcontainers/redis')
    const redis = await new RedisContainer('redis:7.4-alpine').start()
    return { url: redis.getConnectionUrl(), stop: () => redis.stop() }
  },
  answers,
  warn: (message) => console.warn(message),
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { amqpUrl, redisUrl, teardown } = await findInfrastructure(realProbes)
  project.provide('amqpUrl', amqpUrl)
  project.provide('redisUrl', redisUrl)
  return teardown
}
