import { historyLimits, type DeadLetterRecord, type RedisKeys } from '@arrivals/contracts'
import type { Redis } from 'ioredis'
import type { DeadLetterArchive } from '../../ports.js'

/** Pipeline dead letters without a tenant are kept in one capped list. */
const PIPELINE_DEAD_LETTERS_LIMIT = 1000

// Writes one record and trims the tenant's archive by age and by size in the same step. Trimming only
// happens on a write, so both keys also expire one maximum age after the latest write: a tenant that
// stops getting dead letters does not keep its old ones forever.
const ARCHIVE = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
for _, id in ipairs(old) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1`

/**
 * The dead-letter archive in Redis: tenant-scoped records (hash + time index, trimmed by age and by
 * count) that the subscriptions service lists and replays; records without a tenant go to a capped
 * list for the operators.
 */
export class RedisDeadLetterArchive implements DeadLetterArchive {
  constructor(private readonly redis: Redis, private readonly keys: RedisKeys) {}

  async write(record: DeadLetterRecord, now: Date): Promise<void> {
    const json = JSON.stringify(record)
    const { redis, keys } = this
    if (record.tenantId) {
      await redis.eval(ARCHIVE, 2, keys.deadLetters(record.tenantId), keys.deadLettersByTime(record.tenantId),
        record.id, json, now.getTime(), now.getTime() - historyLimits.deadLetterMaxAgeMs, historyLimits.deadLettersPerTenant, historyLimits.deadLetterMaxAgeMs)
    } else {
      await this.park(record)
    }
  }

  async park(record: DeadLetterRecord): Promise<void> {
    const { redis, keys } = this
    const results = await redis.multi()
      .lpush(keys.pipelineDeadLetters, JSON.stringify(record))
      .ltrim(keys.pipelineDeadLetters, 0, PIPELINE_DEAD_LETTERS_LIMIT - 1)
      .pexpire(keys.pipelineDeadLetters, historyLimits.deadLetterMaxAgeMs)
      .exec()
    const failed = results?.find(([error]) => error)?.[0]
    if (failed) throw failed
  }
}
