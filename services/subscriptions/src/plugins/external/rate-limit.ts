import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { hashApiKey, HttpError } from '@arrivals/service-kit'

/** The bucket of a request: its credential (hashed), so each key or token holder has its own limit. */
function credential(request: FastifyRequest): string {
  const key = request.headers['x-api-key']
  if (typeof key === 'string') return `key:${hashApiKey(key)}`
  if (request.tenantId) return `tenant:${request.tenantId}`
  return `ip:${request.ip}`
}

/**
 * Requests per minute per credential, counted in this replica's memory (no Redis round trip, and it
 * keeps working while Redis is away). Runs after authentication (preParsing), so only valid
 * credentials get buckets and an over-limit caller costs no body parsing. Bearer tokens count per
 * tenant (a token changes every hour; its tenant does not).
 */
export default fp(async (app: FastifyInstance, options: { perMinute: number }) => {
  await app.register(rateLimit, {
    hook: 'preParsing',
    max: options.perMinute,
    timeWindow: 60_000,
    keyGenerator: credential,
    errorResponseBuilder: (_request, context) =>
      new HttpError(429, `rate limit of ${context.max} requests per minute for these credentials exceeded; retry in ${context.after}`, 'RATE_LIMITED'),
  })
}, { name: 'rate-limit' })
