import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { hashApiKey } from './api-keys.js'
import { HttpError } from './errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant the caller's credentials name. Set on every route that is not public. */
    tenantId: string
  }
  interface FastifyContextConfig {
    /** Reachable without credentials (health, metrics, documentation). */
    public?: boolean
  }
}

/**
 * Finds the tenant named by the request's credentials. Returns undefined when the request carries
 * no credentials of this kind; throws an HttpError(401) when it carries invalid ones.
 */
export type Authenticator = (request: FastifyRequest) => Promise<string | undefined> | string | undefined

/** `X-API-Key`: the key's hash is looked up; the key itself is never stored or logged. */
export function apiKeyAuthenticator(tenantForKeyHash: (hash: string) => Promise<string | undefined> | string | undefined): Authenticator {
  return async (request) => {
    const header = request.headers['x-api-key']
    if (header === undefined) return undefined
    const key = Array.isArray(header) ? header[0] : header
    const tenantId = key ? await tenantForKeyHash(hashApiKey(key)) : undefined
    if (!tenantId) throw new HttpError(401, 'the API key in X-API-Key is not valid', 'INVALID_API_KEY')
    return tenantId
  }
}

export interface TenantAuthOptions {
  authenticators: Authenticator[]
  /** How to authenticate, for the 401 message. */
  hint?: string
}

/** Every route that is not `config.public` requires credentials that name a tenant. */
export const tenantAuth = fp(async (app: FastifyInstance, options: TenantAuthOptions) => {
  app.decorateRequest('tenantId', '')
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.public || !request.routeOptions.url) return
    for (const authenticate of options.authenticators) {
      const tenantId = await authenticate(request)
      if (tenantId) {
        request.tenantId = tenantId
        return
      }
    }
    throw new HttpError(401, `missing credentials: ${options.hint ?? "send your tenant's API key in the X-API-Key header"}`, 'UNAUTHENTICATED')
  })
}, { name: 'arrivals-tenant-auth' })
