// The machine the figures belong to, read off the machine and the servers themselves.
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import amqp from 'amqplib'
import { Redis } from 'ioredis'
import { processCpuSeconds } from './process.mjs'

export async function machineFacts(settings) {
  const connection = await amqp.connect(settings.amqpUrl)
  const rabbitmq = String(connection.connection.serverProperties?.version ?? 'unknown')
  await connection.close()
  const redis = new Redis(settings.redisUrl)
  const info = await redis.info('server')
  redis.disconnect()
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    rabbitmq,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
  }
}

/**
 * CPU seconds used so far by the RabbitMQ node (its OS process, from `rabbitmqctl status`) and by
 * Redis (INFO cpu), so a run can say where its CPU went. Both servers are shared with whatever else
 * runs on the machine, so these are upper bounds for the contender's share.
 */
export async function serverCpu(redis, brokerPid) {
  const info = await redis.info('cpu')
  const field = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  return { rabbitmq: brokerPid ? processCpuSeconds(brokerPid) : null, redis: field('used_cpu_user') + field('used_cpu_sys') }
}

export function rabbitmqPid() {
  try {
    const status = execFileSync('rabbitmqctl', ['status'], { encoding: 'utf8', timeout: 20_000 })
    return Number(/OS PID: (\d+)/.exec(status)?.[1]) || null
  } catch {
    return null
  }
}

/** Which dispatcher was measured: its last commit, and whether the working tree differs from it. */
export function dispatcherRevision() {
  const git = (...args) => execFileSync('git', args, { encoding: 'utf8', cwd: new URL('../..', import.meta.url).pathname }).trim()
  try {
    return {
      commit: git('log', '-1', '--format=%h %cI', '--', 'services/dispatcher'),
      uncommittedChanges: git('status', '--porcelain', '--untracked-files=no', '--', 'services/dispatcher').length > 0,
    }
  } catch {
    return null
  }
}
