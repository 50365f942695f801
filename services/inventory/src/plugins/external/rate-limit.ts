import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { hashApiKey, HttpError } from '@arrivals/service-kit'

/**
 * Requests per minute per API key, counted in this replica's memory (N replicas allow N times the
 * limit; no Redis round trip per request, and the limit keeps working while Redis is away). Runs
 * after authentication (preParsing), so only valid keys have buckets and an over-limit caller costs
 * no body parsing. Announced with X-RateLimit-* headers; exceeded with 429 and Retry-After.
 */
export default fp(async (app: FastifyInstance, options: { perMinute: number }) => {
  await app.register(rateLimit, {
    hook: 'preParsing',
    max: options.perMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => {
      const key = request.headers['x-api-key']
      return typeof key === 'string' ? `key:${hashApiKey(key)}` : `ip:${request.ip}`
    },
    errorResponseBuilder: (_request, context) =>
      new HttpError(429, `rate limit of ${context.max} requests per minute for this API key exceeded; retry in ${context.after}`, 'RATE_LIMITED'),
  })
}, { name: 'rate-limit' })
