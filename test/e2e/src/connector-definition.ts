/**
 * What Power Automate learns from a custom connector's definition, and nothing more: where the
 * trigger is, which body property takes the callback URL, which filters a maker can set, what a
 * notification must look like, how the connection authenticates, and where unsubscribing goes.
 * Read from the definition the subscriptions service serves, the way the maker portal imports it.
 */
type Json = Record<string, unknown>

export interface ConnectorDefinition {
  raw: Json
  /** `http://<host><basePath>`: the definition's host and base path (TLS is the gateway's job, not the test's). */
  apiBase: string
  host: string
  apiKeyHeader: string
  trigger: {
    path: string
    operationId: string
    /** The body property marked `x-ms-notification-url: true`. */
    notificationProperty: string
    /** The other body properties: the filters a maker sets in the designer. */
    filterProperties: string[]
  }
  /** The trigger's `x-ms-notification-content` schema, every `$ref` resolved. */
  notificationSchema: Json
  /** The internal DELETE operation the Location must point at. */
  unsubscribe: { path: string; operationId: string; matches(pathname: string): boolean }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Inlines local `$ref`s (`#/definitions/...`, `#/parameters/...`), as the designer does. */
export function resolveRefs(node: unknown, root: Json, depth = 0): unknown {
  if (depth > 32) throw new Error('connector definition: $ref nesting deeper than 32 (a cycle?)')
  if (Array.isArray(node)) return node.map((item) => resolveRefs(item, root, depth + 1))
  if (!isObject(node)) return node
  if (typeof node.$ref === 'string') {
    if (!node.$ref.startsWith('#/')) throw new Error(`connector definition: only local $refs are allowed, got ${node.$ref}`)
    let target: unknown = root
    for (const part of node.$ref.slice(2).split('/')) {
      target = isObject(target) ? target[part.replaceAll('~1', '/').replaceAll('~0', '~')] : undefined
    }
    if (target === undefined) throw new Error(`connector definition: $ref ${node.$ref} points at nothing`)
    return resolveRefs(target, root, depth + 1)
  }
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, resolveRefs(value, root, depth + 1)]))
}

function fail(message: string): never {
  throw new Error(`connector definition: ${message}`)
}

export function readConnectorDefinition(raw: Json): ConnectorDefinition {
  if (raw.swagger !== '2.0') fail(`Power Automate imports Swagger 2.0 only, got swagger=${JSON.stringify(raw.swagger)}`)
  const host = raw.host
  if (typeof host !== 'string' || host.includes('/') || host.includes('{')) fail(`host must be a bare host name, got ${JSON.stringify(host)}`)
  const basePath = typeof raw.basePath === 'string' && raw.basePath !== '/' ? raw.basePath.replace(/\/$/, '') : ''
  const paths = isObject(raw.paths) ? raw.paths : fail('no paths')

  // The connection: an API key header declared in securityDefinitions.
  const security = isObject(raw.securityDefinitions) ? Object.values(raw.securityDefinitions).filter(isObject) : []
  const apiKey = security.find((scheme) => scheme.type === 'apiKey' && scheme.in === 'header')
  if (!apiKey || typeof apiKey.name !== 'string') fail('no apiKey security definition in a header')

  const triggers: { path: string; pathItem: Json; operation: Json }[] = []
  const deletes: { path: string; operation: Json }[] = []
  for (const [path, pathItem] of Object.entries(paths)) {
    if (!isObject(pathItem)) continue
    for (const [method, operation] of Object.entries(pathItem)) {
      if (!isObject(operation)) continue
      if (operation['x-ms-trigger'] !== undefined) {
        if (method !== 'post') fail(`trigger ${path} must be a POST, is ${method}`)
        if (operation['x-ms-trigger'] !== 'single') fail(`trigger ${path} must be x-ms-trigger: single`)
        triggers.push({ path, pathItem, operation })
      }
      if (method === 'delete') deletes.push({ path, operation })
    }
  }
  if (triggers.length !== 1) fail(`expected exactly one webhook trigger, found ${triggers.length}`)
  const trigger = triggers[0]!

  const bodyParameter = (Array.isArray(trigger.operation.parameters) ? trigger.operation.parameters : [])
    .map((parameter) => resolveRefs(parameter, raw))
    .find((parameter): parameter is Json => isObject(parameter) && parameter.in === 'body')
  if (!bodyParameter) fail('the trigger has no body parameter')
  const bodySchema = resolveRefs(bodyParameter.schema, raw)
  if (!isObject(bodySchema) || !isObject(bodySchema.properties)) fail('the trigger body has no properties')
  const notificationProperties = Object.entries(bodySchema.properties)
    .filter(([, schema]) => isObject(schema) && schema['x-ms-notification-url'] === true)
  if (notificationProperties.length !== 1) fail(`expected one body property with x-ms-notification-url: true, found ${notificationProperties.length}`)
  const [notificationProperty, notificationPropertySchema] = notificationProperties[0]! as [string, Json]
  if (notificationPropertySchema.type !== 'string') fail('the notification-url property must be a string')
  if (notificationPropertySchema['x-ms-visibility'] !== 'internal') fail('the notification-url property must be x-ms-visibility: internal')
  if (!Array.isArray(bodySchema.required) || !bodySchema.required.includes(notificationProperty)) fail('the notification-url property must be required')

  const responses = isObject(trigger.operation.responses) ? trigger.operation.responses : {}
  const created = responses['201']
  if (!isObject(created) || !isObject(created.headers) || !isObject(created.headers.Location)) fail('the trigger must declare 201 with a Location header')

  const content = trigger.pathItem['x-ms-notification-content']
  if (trigger.operation['x-ms-notification-content'] !== undefined) fail('x-ms-notification-content belongs on the path item, not the operation')
  if (!isObject(content) || !isObject(content.schema)) fail('the trigger path item has no x-ms-notification-content schema')
  const notificationSchema = resolveRefs(content.schema, raw) as Json

  const internalDeletes = deletes.filter(({ operation }) => operation['x-ms-visibility'] === 'internal')
  if (internalDeletes.length !== 1) fail(`expected one internal DELETE operation (unsubscribe), found ${internalDeletes.length}`)
  const unsubscribe = internalDeletes[0]!
  const pattern = new RegExp(`^${escapeRegExp(basePath + unsubscribe.path).replace(/\\\{[^}]+\\\}/g, '[^/]+')}$`)

  return {
    raw,
    apiBase: `http://${host}${basePath}`,
    host,
    apiKeyHeader: apiKey.name,
    trigger: {
      path: trigger.path,
      operationId: String(trigger.operation.operationId),
      notificationProperty,
      filterProperties: Object.keys(bodySchema.properties).filter((name) => name !== notificationProperty),
    },
    notificationSchema,
    unsubscribe: {
      path: unsubscribe.path,
      operationId: String(unsubscribe.operation.operationId),
      matches: (pathname) => pattern.test(pathname),
    },
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
