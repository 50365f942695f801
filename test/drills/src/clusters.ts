import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { waitFor } from '@arrivals/test-kit'
import { freePort } from '@arrivals/e2e/harness'
import { RabbitNode } from './rabbit-node.js'
import { RedisServer } from './redis-server.js'

const run = promisify(execFile)

/** Runs every cleanup even when some fail, then throws the first failure. */
async function all(cleanups: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(cleanups)).find((result) => result.status === 'rejected')
  if (failed) throw (failed as PromiseRejectedResult).reason
}

/**
 * A RabbitMQ cluster on this machine: `size` nodes of their own (names, ports, data dirs) sharing
 * one Erlang cookie, the second and later joined to the first with `rabbitmqctl join_cluster`.
 */
export class RabbitCluster {
  private constructor(readonly nodes: RabbitNode[]) {}

  static async start(size = 3): Promise<RabbitCluster> {
    const cookie = randomBytes(20).toString('hex').toUpperCase()
    const cluster = new RabbitCluster([])
    try {
      for (let i = 0; i < size; i++) cluster.nodes.push(await RabbitNode.create({ cookie }))
      await Promise.all(cluster.nodes.map((node) => node.start()))
      const [first, ...others] = cluster.nodes
      for (const node of others) {
        await node.ctl(['stop_app'])
        await node.ctl(['join_cluster', first!.nodeName])
        await node.ctl(['start_app'])
      }
      await waitFor(async () => (await cluster.runningNodes()).length === size, { timeoutMs: 60_000, intervalMs: 500, what: `${size} running RabbitMQ nodes in one cluster` })
    } catch (error) {
      await cluster.destroy()
      throw error
    }
    return cluster
  }

  /** AMQP_URL for every node of the cluster. */
  get amqpUrl(): string {
    return this.nodes.map((node) => node.amqpUrl).join(',')
  }

  /** A node that is up, to ask about the cluster. */
  private get live(): RabbitNode {
    const node = this.nodes.find((candidate) => candidate.running)
    if (!node) throw new Error('no RabbitMQ node of the cluster is running')
    return node
  }

  async runningNodes(): Promise<string[]> {
    const status = JSON.parse(await this.live.ctl(['cluster_status', '--formatter', 'json'])) as { running_nodes: string[] }
    return status.running_nodes
  }

  /** The node that leads a quorum queue, and the nodes holding its replicas. */
  async quorumQueue(queue: string): Promise<{ leader: string; members: string[] }> {
    const rows = JSON.parse(await this.live.ctl(['list_queues', 'name', 'leader', 'members', '--formatter', 'json', '-q'])) as Array<{ name: string; leader: string; members: string[] }>
    const row = rows.find((candidate) => candidate.name === queue)
    if (!row) throw new Error(`queue ${queue} is not declared`)
    return { leader: row.leader, members: row.members }
  }

  nodeNamed(name: string): RabbitNode {
    const node = this.nodes.find((candidate) => candidate.nodeName === name)
    if (!node) throw new Error(`${name} is not a node of this cluster`)
    return node
  }

  /** Every node's recent warnings and errors, one block per node, for a failed drill's message. */
  async logWarnings(limit = 40): Promise<string> {
    const blocks = await Promise.all(this.nodes.map(async (node) => `--- ${node.nodeName} (${node.running ? 'running' : 'stopped'})\n${(await node.logWarnings(limit)).join('\n')}`))
    return blocks.join('\n')
  }

  async destroy(): Promise<void> {
    await all(this.nodes.map((node) => node.destroy()))
  }
}

interface SlotRange {
  from: number
  to: number
  master: number
  replicas: number[]
}

/**
 * A Redis Cluster on this machine: `masters` masters with one replica each, on free ports, made
 * with `redis-cli --cluster create`. A short node timeout, so a killed master's replica takes over
 * within seconds.
 */
export class RedisCluster {
  private constructor(readonly servers: RedisServer[]) {}

  static async start(masters = 3): Promise<RedisCluster> {
    const cluster = new RedisCluster([])
    try {
      const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']
      // The bus port is chosen free too: by default it is the port + 10000, which another process may hold.
      for (let i = 0; i < masters * 2; i++) cluster.servers.push(await RedisServer.create({ args: [...args, '--cluster-port', String(await freePort())] }))
      await Promise.all(cluster.servers.map((server) => server.start()))
      await run('redis-cli', ['--cluster', 'create', ...cluster.servers.map((server) => `127.0.0.1:${server.port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 })
        .catch((error: Error & { stdout?: string; stderr?: string }) => {
          throw new Error(`redis-cli --cluster create failed (is redis-tools installed?): ${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}`)
        })
      await cluster.waitHealthy(60_000)
    } catch (error) {
      await cluster.destroy()
      throw error
    }
    return cluster
  }

  /** REDIS_CLUSTER_NODES for the services. */
  get nodes(): string {
    return this.servers.map((server) => `127.0.0.1:${server.port}`).join(',')
  }

  /** REDIS_URL: where credentials and TLS would come from (none here). */
  get url(): string {
    return this.servers[0]!.url
  }

  private async ask<T>(command: (client: Redis) => Promise<T>): Promise<T> {
    let lastError: unknown
    for (const server of this.servers.filter((candidate) => candidate.running)) {
      const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      client.on('error', () => {})
      try {
        await client.connect()
        return await command(client)
      } catch (error) {
        lastError = error
      } finally {
        client.disconnect()
      }
    }
    throw lastError ?? new Error('no Redis Cluster node is running')
  }

  /** The slot a key hashes to. */
  async slotOf(key: string): Promise<number> {
    return await this.ask(async (client) => Number(await client.cluster('KEYSLOT', key)))
  }

  private async slotRanges(client: Redis): Promise<SlotRange[]> {
    const rows = await client.cluster('SLOTS')
    return rows.map(([from, to, ...nodes]) => ({ from, to, master: nodes[0]?.[1] ?? 0, replicas: nodes.slice(1).map((replica) => replica[1]) }))
  }

  /** The server that is master of a slot now. */
  async masterOf(slot: number): Promise<RedisServer> {
    const port = await this.ask(async (client) => (await this.slotRanges(client)).find((range) => slot >= range.from && slot <= range.to)?.master)
    const server = this.servers.find((candidate) => candidate.port === port)
    if (!server) throw new Error(`no master serves slot ${slot}`)
    return server
  }

  /** Every running node says the cluster is ok and every slot's master is running. */
  async healthy(): Promise<boolean> {
    for (const server of this.servers.filter((candidate) => candidate.running)) {
      const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      client.on('error', () => {})
      try {
        await client.connect()
        if (!(await client.cluster('INFO') as string).includes('cluster_state:ok')) return false
        const ranges = await this.slotRanges(client)
        const covered = ranges.reduce((sum, range) => sum + range.to - range.from + 1, 0)
        if (covered !== 16_384) return false
        if (ranges.some((range) => !this.servers.find((candidate) => candidate.port === range.master)?.running)) return false
      } catch {
        return false
      } finally {
        client.disconnect()
      }
    }
    return true
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    await waitFor(() => this.healthy(), { timeoutMs, intervalMs: 100, what: 'every Redis Cluster node to report cluster_state:ok with a running master for every slot' })
  }

  async destroy(): Promise<void> {
    await all(this.servers.map((server) => server.destroy()))
  }
}
