import type { FastifyPluginAsync, FastifySchema } from 'fastify'
import { apiProperties, connectorDefinition, type ConnectorVariant } from '../connector/definition.js'
import { connectorIcon } from '../connector/icon.js'
import { publicBase } from '../public-url.js'

export interface ConnectorRoutesOptions {
  publicBaseUrl: string | undefined
  /** The Entra ID application ID URI, for the Entra variant's apiProperties. */
  entraAudience: string | undefined
}

/**
 * The custom connector as this deployment serves it: the definition with the deployment's own host,
 * base path and scheme, ready for "Import an OpenAPI from URL", its connection parameters and its icon
 * (the whole package but the maker README). No key needed: it holds no secret.
 */
const connector: FastifyPluginAsync<ConnectorRoutesOptions> = async (app, options) => {
  const hidden = { hide: true } as FastifySchema
  const variants: [string, ConnectorVariant][] = [['/connector', 'api-key'], ['/connector/entra-id', 'entra-id']]
  const icon = connectorIcon()
  for (const [prefix, variant] of variants) {
    app.get(`${prefix}/apiDefinition.swagger.json`, { config: { public: true }, schema: hidden }, async (request) =>
      connectorDefinition(app.swagger(), publicBase(request, options.publicBaseUrl), variant))
    app.get(`${prefix}/apiProperties.json`, { config: { public: true }, schema: hidden }, async () =>
      apiProperties(variant, options.entraAudience ? { resourceUri: options.entraAudience } : undefined))
    app.get(`${prefix}/icon.png`, { config: { public: true }, schema: hidden }, async (_request, reply) =>
      reply.type('image/png').header('cache-control', 'public, max-age=86400').send(icon))
  }
}

export default connector
