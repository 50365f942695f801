import type { FastifyRequest } from 'fastify'

/** Where callers reach this service: the Location header's base and the connector's host and basePath. */
export interface PublicBase {
  /** `https:` or `http:`. */
  protocol: string
  /** Host name and port, as the connector's `host`. */
  host: string
  /** Path prefix before /v1/… (empty, or `/arrivals`). */
  basePath: string
}

/**
 * PUBLIC_BASE_URL when set (it wins: the deployment knows its public name). Otherwise the request:
 * with TRUST_PROXY, fastify takes protocol and host from X-Forwarded-Proto/-Host sent by a trusted
 * proxy; without it, from the connection and the Host header.
 */
export function publicBase(request: FastifyRequest, publicBaseUrl: string | undefined): PublicBase {
  if (publicBaseUrl) {
    const url = new URL(publicBaseUrl)
    return { protocol: url.protocol, host: url.host, basePath: url.pathname.replace(/\/+$/, '') }
  }
  return { protocol: `${request.protocol}:`, host: request.host, basePath: '' }
}

export function publicUrl(base: PublicBase, path: string): string {
  return `${base.protocol}//${base.host}${base.basePath}${path}`
}
