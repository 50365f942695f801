import { catalogue, type CatalogueEntry } from '@arrivals/contracts'
import type { PublicBase } from '../public-url.js'

/**
 * The custom connector, derived from the service's own Swagger 2.0 document (@fastify/swagger reads
 * the route schemas), so the connector cannot describe an API other than the one that runs.
 * Only the operations tagged CONNECTOR_TAG are in it: a trigger per catalogue entry, the delete of a
 * subscription, and the store list behind the triggers' store dropdown. The operator API stays out.
 */
export const CONNECTOR_TAG = 'connector'

/** Keywords the route schemas carry for Power Automate; fastify's Ajv must accept them. */
export const CONNECTOR_KEYWORDS = [
  'x-ms-notification-url', 'x-ms-visibility', 'x-ms-summary', 'x-ms-dynamic-values', 'x-ms-trigger', 'x-ms-trigger-hint',
] as const

/** The base the committed connector/ package is generated with; makers set their own host on import. */
export const PACKAGE_BASE_URL = 'https://arrivals.example.com'

export const CONNECTOR_TITLE = 'Arrivals'
export const CONNECTOR_DESCRIPTION =
  'Start a flow the moment one of your stores receives goods or adjusts its stock. Arrivals sends each goods ' +
  'receipt and stock adjustment to your flow as it is recorded: store, items and quantities, filtered by store, ' +
  'product, quantity or reason.'
export const ICON_BRAND_COLOR = '#0f6b5c'

export type ConnectorVariant = 'api-key' | 'entra-id'

type Json = Record<string, unknown>

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** An entry's notification schema exactly as contracts define it, as plain JSON (TypeBox's symbols dropped). */
export function notificationSchema(entry: CatalogueEntry): Json {
  return JSON.parse(JSON.stringify(entry.notification)) as Json
}

/**
 * What @fastify/swagger cannot express through route options (its `transformObject`): each trigger's
 * `x-ms-notification-content` (its catalogue entry's notification schema) goes on the path item (Microsoft's schema refuses it on the
 * operation), and a body parameter is `required` (every body of this API is).
 */
export function completeDocument<T>(document: T): T {
  const doc = document as Json
  const paths = isObject(doc.paths) ? doc.paths : {}
  for (const pathItem of Object.values(paths)) {
    if (!isObject(pathItem)) continue
    for (const operation of Object.values(pathItem)) {
      if (!isObject(operation)) continue
      // A $ref stands alone in Swagger 2.0: the response's description is on the response itself.
      for (const response of Object.values(isObject(operation.responses) ? operation.responses : {})) {
        if (isObject(response) && isObject(response.schema) && typeof response.schema.$ref === 'string') response.schema = { $ref: response.schema.$ref }
      }
      for (const parameter of Array.isArray(operation.parameters) ? operation.parameters : []) {
        if (isObject(parameter) && parameter.in === 'body') {
          parameter.required = true
          parameter['x-ms-summary'] ??= 'Request'
          parameter.description ??= 'The request body.'
        }
      }
    }
  }
  for (const entry of catalogue) {
    const trigger = paths[entry.trigger.path]
    if (isObject(trigger)) trigger['x-ms-notification-content'] = { description: entry.trigger.notificationDescription, schema: notificationSchema(entry) }
  }
  return document
}

/** Every local `$ref` target under #/definitions reachable from `node`. */
function referencedDefinitions(node: unknown, definitions: Json, found = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const item of node) referencedDefinitions(item, definitions, found)
  } else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/definitions/')) {
        const name = value.slice('#/definitions/'.length)
        if (!found.has(name)) {
          found.add(name)
          referencedDefinitions(definitions[name], definitions, found)
        }
      } else {
        referencedDefinitions(value, definitions, found)
      }
    }
  }
  return found
}

const securityDefinitions: Record<ConnectorVariant, Json> = {
  'api-key': { api_key: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
  'entra-id': {
    oauth2_auth: {
      type: 'oauth2',
      flow: 'accessCode',
      authorizationUrl: 'https://login.microsoftonline.com/common/oauth2/authorize',
      tokenUrl: 'https://login.windows.net/common/oauth2/authorize',
      scopes: {},
    },
  },
}

/**
 * The connector's apiDefinition.swagger.json: the connector operations of the service's document,
 * with the deployment's host, base path and scheme, one security scheme, and the metadata
 * Microsoft's certification asks for.
 */
export function connectorDefinition(serviceDocument: unknown, base: PublicBase, variant: ConnectorVariant): Json {
  const source = JSON.parse(JSON.stringify(serviceDocument)) as Json
  const paths: Json = {}
  for (const [path, pathItem] of Object.entries(isObject(source.paths) ? source.paths : {})) {
    if (!isObject(pathItem)) continue
    const kept: Json = {}
    for (const [key, value] of Object.entries(pathItem)) {
      if (key.startsWith('x-')) kept[key] = value
      else if (isObject(value) && Array.isArray(value.tags) && value.tags.includes(CONNECTOR_TAG)) {
        const { tags: _tags, ...operation } = value
        kept[key] = operation
      }
    }
    if (Object.keys(kept).some((key) => !key.startsWith('x-'))) paths[path] = kept
  }
  const allDefinitions = isObject(source.definitions) ? source.definitions : {}
  const definitions = Object.fromEntries([...referencedDefinitions(paths, allDefinitions)].sort().map((name) => [name, allDefinitions[name]]))
  const security = securityDefinitions[variant]
  const websiteUrl = `${base.protocol}//${base.host}${base.basePath}/docs`
  return {
    swagger: '2.0',
    info: {
      title: CONNECTOR_TITLE,
      description: CONNECTOR_DESCRIPTION,
      version: '1.0.0',
      contact: { name: 'Arrivals', url: websiteUrl },
    },
    host: base.host,
    basePath: base.basePath || '/',
    schemes: [base.protocol.replace(':', '')],
    consumes: ['application/json'],
    produces: ['application/json'],
    paths,
    definitions,
    parameters: {},
    responses: {},
    securityDefinitions: security,
    security: [Object.fromEntries(Object.keys(security).map((name) => [name, []]))],
    tags: [],
    'x-ms-connector-metadata': [
      { propertyName: 'Website', propertyValue: websiteUrl },
      { propertyName: 'Privacy policy', propertyValue: websiteUrl },
      { propertyName: 'Categories', propertyValue: 'Commerce;Productivity' },
    ],
  }
}

/** apiProperties.json: how a maker connects (an API key, or an Entra ID sign-in). */
export function apiProperties(variant: ConnectorVariant, entra: { resourceUri: string } = { resourceUri: 'api://arrivals' }): Json {
  const connectionParameters: Json = variant === 'api-key'
    ? {
        api_key: {
          type: 'securestring',
          uiDefinition: {
            displayName: 'API key',
            description: 'The API key of your Arrivals tenant',
            tooltip: 'Your Arrivals administrator gives out keys (API_KEYS on the service)',
            constraints: { tabIndex: 2, clearText: false, required: 'true' },
          },
        },
      }
    : {
        token: {
          type: 'oauthSetting',
          oAuthSettings: {
            identityProvider: 'aad',
            clientId: '[client id of your Entra ID app registration]',
            scopes: [],
            redirectMode: 'Global',
            redirectUrl: 'https://global.consent.azure-apim.net/redirect',
            properties: { IsFirstParty: 'False' },
            customParameters: {
              loginUri: { value: 'https://login.microsoftonline.com' },
              tenantId: { value: 'common' },
              resourceUri: { value: entra.resourceUri },
            },
          },
        },
        'token:TenantId': {
          type: 'string',
          metadata: { sourceType: 'AzureActiveDirectoryTenant' },
          uiDefinition: {
            constraints: { required: 'false', hidden: 'true' },
            description: 'The tenant ID of for the Azure Active Directory application',
            displayName: 'Tenant',
          },
        },
      }
  return {
    properties: {
      connectionParameters,
      iconBrandColor: ICON_BRAND_COLOR,
      capabilities: [],
      publisher: 'Arrivals',
      stackOwner: 'Arrivals',
    },
  }
}
