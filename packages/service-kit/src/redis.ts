import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import { redactCredentials } from './settings.js'

/** One Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES): every service takes either. */
export type RedisClient = Redis | Cluster

/** A Redis Cluster's seed node, from REDIS_CLUSTER_NODES. */
export interface RedisNode {
  host: string
  port: number
}

const backoff = (attempt: number) => Math.min(100 * 2 ** attempt, 5_000)

/**
 * A Redis client that fails fast instead of hanging while Redis is away (a request becomes a 503,
 * readiness goes red) and reconnects with capped backoff on its own. With cluster nodes it is a Redis
 * Cluster client: credentials and TLS still come from `url`, the nodes only say where to start.
 */
export function createRedisClient(url: string, log: Pick<Logger, 'warn' | 'info'>, name: string, clusterNodes: readonly RedisNode[] = []): RedisClient {
  const options: RedisOptions = {
    connectionName: name,
    // A command waits for at most one reconnect before it fails (and the caller answers 503).
    maxRetriesPerRequest: 1,
    // No command hangs longer than this on a half-open connection.
    commandTimeout: 3_000,
    connectTimeout: 3_000,
    retryStrategy: backoff,
    lazyConnect: false,
  }
  const redis = clusterNodes.length > 0 ? createClusterClient(url, options, clusterNodes) : new Redis(url, options)
  let healthy = true
  redis.on('error', (error: Error) => {
    if (healthy) log.warn({ err: { message: error.message }, redis: redactCredentials(url) }, 'redis connection error')
    healthy = false
  })
  redis.on('ready', () => {
    if (!healthy) log.info('redis connection restored')
    healthy = true
  })
  return redis
}

function createClusterClient(url: string, options: RedisOptions, nodes: readonly RedisNode[]): Cluster {
  const parsed = new URL(url)
  const tls = parsed.protocol === 'rediss:'
  return new Cluster(nodes.map(({ host, port }) => ({ host, port })), {
    redisOptions: {
      ...options,
      username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
      password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
      // The nodes a cluster announces are addresses; the certificate names the endpoint of REDIS_URL.
      ...(tls ? { tls: { servername: parsed.hostname } } : {}),
    },
    // Keep the announced addresses as they are: resolving them again would break TLS's name check.
    ...(tls ? { dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address) } : {}),
    // A lost cluster is retried like a lost Redis, forever, with the same capped backoff.
    clusterRetryStrategy: backoff,
    // While a replica is promoted (CLUSTERDOWN, a moved slot, TRYAGAIN) a command waits this long
    // before it is tried again; a command still failing after maxRetriesPerRequest is a 503.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 200,
    // Follows MOVED/ASK while slots migrate; more than this means the map is wrong, so refresh it.
    maxRedirections: 16,
    // A failover changes which node owns which slot: check the map often enough to notice soon.
    slotsRefreshInterval: 5_000,
    slotsRefreshTimeout: 2_000,
  })
}

/** True while Redis answers a PING. */
export async function redisAnswers(redis: RedisClient): Promise<boolean> {
  if (redis.status !== 'ready') return false
  return (await redis.ping().catch(() => '')) === 'PONG'
}

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient
  }
}

export interface RedisPluginOptions {
  url: string
  /** REDIS_CLUSTER_NODES: when given, a Redis Cluster client (see createRedisClient). */
  clusterNodes?: readonly RedisNode[]
  /** Shown by CLIENT LIST, so an operator can tell the services' connections apart. */
  connectionName: string
}

/** The service's one Redis client as the `redis` decorator: fails fast while Redis is away, quits on close. */
export const redisPlugin = fp(async (app: FastifyInstance, options: RedisPluginOptions) => {
  const redis = createRedisClient(options.url, app.log, options.connectionName, options.clusterNodes)
  app.decorate<RedisClient>('redis', redis)
  app.addHook('onClose', async () => {
    await redis.quit().catch(() => redis.disconnect())
  })
}, { name: 'redis' })
