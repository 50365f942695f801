import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { hashApiKey, type Credential, type Role } from './api-keys.js'
import { authFailureThrottle } from './auth-failures.js'
import { HttpError } from './errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant the caller's credentials name. Set on every route that is not public. */
    tenantId: string
    /** What the caller's credentials may do. Set with tenantId. */
    role: Role
  }
  interface FastifyContextConfig {
    /** Reachable without credentials (health, metrics, documentation). */
    public?: boolean
  }
}

/**
 * Finds who the request's credentials name: a credential, or a tenant id alone (a maker of that
 * tenant). Returns undefined when the request carries no credentials of this kind; throws an
 * HttpError(401) when it carries invalid ones.
 */
export type Authenticator = (request: FastifyRequest) => Promise<Credential | string | undefined> | Credential | string | undefined

/** `X-API-Key`: the key's hash is looked up; the key itself is never stored or logged. */
export function apiKeyAuthenticator(credentialForKeyHash: (hash: string) => Promise<Credential | string | undefined> | Credential | string | undefined): Authenticator {
  return async (request) => {
    const header = request.headers['x-api-key']
    if (header === undefined) return undefined
    const key = Array.isArray(header) ? header[0] : header
    const found = key ? await credentialForKeyHash(hashApiKey(key)) : undefined
    if (!found) throw new HttpError(401, 'the API key in X-API-Key is not valid', 'INVALID_API_KEY')
    return found
  }
}

export interface TenantAuthOptions {
  authenticators: Authenticator[]
  /** How to authenticate, for the 401 message. */
  hint?: string
  /**
   * Failed authentications per client address per minute, in this replica's memory; over it the
   * address gets 429 with Retry-After before any credential is looked at (0 or absent: no limit).
   */
  failuresPerMinute?: number
}

/**
 * Every route that is not `config.public` requires credentials that name a tenant. An address that
 * keeps failing is throttled; a caller whose credentials are valid never counts against it.
 */
export const tenantAuth = fp(async (app: FastifyInstance, options: TenantAuthOptions) => {
  const throttle = authFailureThrottle({ perMinute: options.failuresPerMinute ?? 0 })
  app.decorateRequest('tenantId', '')
  app.decorateRequest('role', 'maker')
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.public || !request.routeOptions.url) return
    const waitSeconds = throttle.blockedFor(request.ip)
    if (waitSeconds > 0) {
      reply.header('retry-after', String(waitSeconds))
      throw new HttpError(429, `too many failed authentications from this address; retry in ${waitSeconds} s with valid credentials`, 'TOO_MANY_AUTH_FAILURES')
    }
    try {
      for (const authenticate of options.authenticators) {
        const found = await authenticate(request)
        if (!found) continue
        const credential: Credential = typeof found === 'string' ? { tenantId: found, role: 'maker' } : found
        request.tenantId = credential.tenantId
        request.role = credential.role
        return
      }
    } catch (error) {
      if (error instanceof HttpError && error.statusCode === 401) throttle.failed(request.ip)
      throw error
    }
    throttle.failed(request.ip)
    throw new HttpError(401, `missing credentials: ${options.hint ?? "send your tenant's API key in the X-API-Key header"}`, 'UNAUTHENTICATED')
  })
}, { name: 'arrivals-tenant-auth' })

/**
 * An onRequest hook for a plugin whose routes only operators may use: add it inside that
 * (encapsulated) plugin, after tenantAuth ran in a parent. `message` tells a maker what to use instead.
 */
export function requireOperator(message: string) {
  return async (request: FastifyRequest) => {
    if (request.routeOptions.config.public || !request.routeOptions.url) return
    if (request.role !== 'operator') throw new HttpError(403, message, 'NOT_AN_OPERATOR')
  }
}
