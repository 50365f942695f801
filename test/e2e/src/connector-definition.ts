/**
 * What Power Automate learns from a custom connector's definition, and nothing more: which triggers
 * there are and where, which body property takes the callback URL, which filters a maker can set
 * (and the values a dropdown offers), what a notification must look like, how the connection
 * authenticates, and where unsubscribing goes. Read from the definition the subscriptions service
 * serves, the way the maker portal imports it.
 */
type Json = Record<string, unknown>

/** A webhook trigger as the designer lists it. */
export interface ConnectorTrigger {
  path: string
  operationId: string
  /** What the designer shows, e.g. "When goods are received at a store". */
  summary: string
  /** The body property marked `x-ms-notification-url: true`. */
  notificationProperty: string
  /** The other body properties: the filters a maker sets in the designer. */
  filterProperties: string[]
  /** The values a filter's dropdown offers, for filters that are an `enum`. */
  filterChoices: Record<string, unknown[]>
  /** The trigger's `x-ms-notification-content` schema, every `$ref` resolved. */
  notificationSchema: Json
}

export interface ConnectorDefinition {
  raw: Json
  /** `http://<host><basePath>`: the definition's host and base path (TLS is the gateway's job, not the test's). */
  apiBase: string
  host: string
  apiKeyHeader: string
  /** Every webhook trigger, in the definition's order. */
  triggers: ConnectorTrigger[]
  /** The trigger a maker picks by its summary (its name in the designer). */
  trigger(summary?: string): ConnectorTrigger
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
  if (triggers.length === 0) fail('no webhook trigger (an operation with x-ms-trigger)')
  const readTriggers = triggers.map((trigger) => readTrigger(trigger, raw))
  const summaries = readTriggers.map((trigger) => trigger.summary)
  if (new Set(summaries).size !== summaries.length) fail(`two triggers share a summary: ${summaries.join(', ')}`)

  const internalDeletes = deletes.filter(({ operation }) => operation['x-ms-visibility'] === 'internal')
  if (internalDeletes.length !== 1) fail(`expected one internal DELETE operation (unsubscribe), found ${internalDeletes.length}`)
  const unsubscribe = internalDeletes[0]!
  const pattern = new RegExp(`^${escapeRegExp(basePath + unsubscribe.path).replace(/\\\{[^}]+\\\}/g, '[^/]+')}$`)

  return {
    raw,
    apiBase: `http://${host}${basePath}`,
    host,
    apiKeyHeader: apiKey.name,
    triggers: readTriggers,
    trigger(summary) {
      if (summary === undefined) return readTriggers[0]!
      return readTriggers.find((trigger) => trigger.summary === summary) ?? fail(`no trigger "${summary}"; the designer lists ${summaries.join(', ')}`)
    },
    unsubscribe: {
      path: unsubscribe.path,
      operationId: String(unsubscribe.operation.operationId),
      matches: (pathname) => pattern.test(pathname),
    },
  }
}

function readTrigger(trigger: { path: string; pathItem: Json; operation: Json }, raw: Json): ConnectorTrigger {
  const { path } = trigger
  if (typeof trigger.operation.summary !== 'string' || !trigger.operation.summary) fail(`trigger ${path} has no summary for the designer`)
  const bodyParameter = (Array.isArray(trigger.operation.parameters) ? trigger.operation.parameters : [])
    .map((parameter) => resolveRefs(parameter, raw))
    .find((parameter): parameter is Json => isObject(parameter) && parameter.in === 'body')
  if (!bodyParameter) fail(`trigger ${path} has no body parameter`)
  const bodySchema = resolveRefs(bodyParameter.schema, raw)
  if (!isObject(bodySchema) || !isObject(bodySchema.properties)) fail(`the body of trigger ${path} has no properties`)
  const notificationProperties = Object.entries(bodySchema.properties)
    .filter(([, schema]) => isObject(schema) && schema['x-ms-notification-url'] === true)
  if (notificationProperties.length !== 1) fail(`${path}: expected one body property with x-ms-notification-url: true, found ${notificationProperties.length}`)
  const [notificationProperty, notificationPropertySchema] = notificationProperties[0]! as [string, Json]
  if (notificationPropertySchema.type !== 'string') fail(`${path}: the notification-url property must be a string`)
  if (notificationPropertySchema['x-ms-visibility'] !== 'internal') fail(`${path}: the notification-url property must be x-ms-visibility: internal`)
  if (!Array.isArray(bodySchema.required) || !bodySchema.required.includes(notificationProperty)) fail(`${path}: the notification-url property must be required`)

  const responses = isObject(trigger.operation.responses) ? trigger.operation.responses : {}
  const created = responses['201']
  if (!isObject(created) || !isObject(created.headers) || !isObject(created.headers.Location)) fail(`trigger ${path} must declare 201 with a Location header`)

  const content = trigger.pathItem['x-ms-notification-content']
  if (trigger.operation['x-ms-notification-content'] !== undefined) fail(`${path}: x-ms-notification-content belongs on the path item, not the operation`)
  if (!isObject(content) || !isObject(content.schema)) fail(`the trigger path item ${path} has no x-ms-notification-content schema`)

  const filterProperties = Object.keys(bodySchema.properties).filter((name) => name !== notificationProperty)
  const filterChoices = Object.fromEntries(filterProperties
    .map((name) => [name, (bodySchema.properties as Json)[name]] as const)
    .filter(([, schema]) => isObject(schema) && Array.isArray(schema.enum))
    .map(([name, schema]) => [name, (schema as { enum: unknown[] }).enum]))
  return {
    path,
    operationId: String(trigger.operation.operationId),
    summary: trigger.operation.summary,
    notificationProperty,
    filterProperties,
    filterChoices,
    notificationSchema: resolveRefs(content.schema, raw) as Json,
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
