import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { hashApiKey } from './api-keys.js'
import { HttpError } from './errors.js'

/**
 * The bucket of a request: its API key (hashed), else the tenant a bearer token named (a token
 * changes every hour; its tenant does not), else the address.
 */
function credential(request: FastifyRequest): string {
  const key = request.headers['x-api-key']
  if (typeof key === 'string') return `key:${hashApiKey(key)}`
  if (request.tenantId) return `tenant:${request.tenantId}`
  return `ip:${request.ip}`
}

export interface RateLimitOptions {
  perMinute: number
  /** Who is over the limit, in the 429's message: "this API key", "these credentials". */
  whose: string
}

/**
 * Requests per minute per credential, counted in this replica's memory (N replicas allow N times the
 * limit; no Redis round trip per request, and the limit keeps working while Redis is away). Runs
 * after authentication (preParsing), so only valid credentials get buckets and an over-limit caller
 * costs no body parsing. Announced with X-RateLimit-* headers; exceeded with 429 and Retry-After.
 */
export const rateLimitPerCredential = fp(async (app: FastifyInstance, options: RateLimitOptions) => {
  await app.register(rateLimit, {
    hook: 'preParsing',
    max: options.perMinute,
    timeWindow: 60_000,
    keyGenerator: credential,
    errorResponseBuilder: (_request, context) =>
      new HttpError(429, `rate limit of ${context.max} requests per minute for ${options.whose} exceeded; retry in ${context.after}`, 'RATE_LIMITED'),
  })
}, { name: 'rate-limit' })
