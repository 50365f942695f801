// The machine the figures belong to, read off the machine and the servers themselves.
import os from 'node:os'
import amqp from 'amqplib'
import { Redis } from 'ioredis'

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
