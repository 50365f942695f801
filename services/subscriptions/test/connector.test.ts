import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { inflateSync } from 'node:zlib'
import SwaggerParser from '@apidevtools/swagger-parser'
import { Ajv as Ajv7 } from 'ajv'
import AjvDraft04Module from 'ajv-draft-04'
import addFormatsModule from 'ajv-formats'
import type { FastifyInstance } from 'fastify'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { catalogue, GoodsReceivedNotification } from '@arrivals/contracts'
import { createNamespace } from '@arrivals/test-kit'
import { CONNECTOR_DESCRIPTION, CONNECTOR_TITLE, ICON_BRAND_COLOR, PACKAGE_BASE_URL } from '../src/connector/definition.js'
import { connectorPackage } from '../src/connector/package.js'
import { build, callbackUrl, tenant, testSettings } from './support.js'

// CommonJS modules whose default export arrives wrapped under ESM.
const AjvDraft04 = ((AjvDraft04Module as unknown as { default?: unknown }).default ?? AjvDraft04Module) as unknown as typeof AjvDraft04Module.default
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as typeof addFormatsModule.default

type Json = Record<string, unknown>
const ns = createNamespace('subs-connector')
const contoso = tenant('contoso')
const connectorDir = new URL('../../../connector/', import.meta.url)
// Microsoft's connector schemas are shared data, read where they live: ../shared/ppc-schemas beside the
// repository (CI clones main with shared/ beside it), or PPC_SCHEMAS_DIR.
const schemasDir = process.env.PPC_SCHEMAS_DIR
  ? pathToFileURL(`${process.env.PPC_SCHEMAS_DIR.replace(/\/*$/, '')}/`)
  : new URL('../../../../shared/ppc-schemas/', import.meta.url)
if (!existsSync(new URL('apiDefinition.swagger.schema.json', schemasDir))) {
  throw new Error(`Microsoft's connector schemas are not at ${fileURLToPath(schemasDir)}: put shared/ beside the repository (../shared/ppc-schemas) or set PPC_SCHEMAS_DIR`)
}
let app: FastifyInstance
let generated: Map<string, string | Buffer>

beforeAll(async () => {
  app = await build(testSettings(ns, [contoso], { publicBaseUrl: PACKAGE_BASE_URL }))
  generated = connectorPackage(app)
})
afterAll(async () => {
  await app?.close()
  await ns.cleanup()
})

const committed = (path: string) => readFileSync(new URL(path, connectorDir))
const committedJson = (path: string) => JSON.parse(committed(path).toString('utf8')) as Json
const variants = ['apiDefinition.swagger.json', 'entra-id/apiDefinition.swagger.json']

/** Microsoft's schemas are JSONC: drop `//` comments outside strings. */
function readJsonc(name: string): Json {
  const text = readFileSync(new URL(name, schemasDir), 'utf8')
  let out = ''
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!
    if (inString) {
      out += char
      if (char === '\\') out += text[++i] ?? ''
      else if (char === '"') inString = false
    } else if (char === '"') {
      inString = true
      out += char
    } else if (char === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++
      out += '\n'
    } else {
      out += char
    }
  }
  return JSON.parse(out) as Json
}

function operations(definition: Json): { path: string; method: string; operation: Json }[] {
  const found: { path: string; method: string; operation: Json }[] = []
  for (const [path, item] of Object.entries(definition.paths as Json)) {
    for (const [method, operation] of Object.entries(item as Json)) {
      if (!method.startsWith('x-')) found.push({ path, method, operation: operation as Json })
    }
  }
  return found
}

describe('the committed connector/ package', () => {
  it('is exactly what the app generates (run `pnpm --filter @arrivals/subscriptions connector:export` after a change)', () => {
    expect([...generated.keys()].sort()).toEqual([
      'apiDefinition.swagger.json', 'apiProperties.json', 'entra-id/apiDefinition.swagger.json',
      'entra-id/apiProperties.json', 'entra-id/icon.png', 'icon.png',
    ])
    for (const [path, content] of generated) {
      expect(committed(path).equals(Buffer.from(content)), `connector/${path} differs from what the app generates`).toBe(true)
    }
  })

  it('validates as Swagger 2.0 (swagger-parser)', async () => {
    for (const path of variants) {
      const api = await SwaggerParser.validate(structuredClone(committedJson(path)) as never)
      expect((api as unknown as Json).swagger).toBe('2.0')
    }
  })

  it('validates against Microsoft\'s apiDefinition and apiProperties schemas', () => {
    const ajv04 = new AjvDraft04({ strict: false, allErrors: true })
    addFormats(ajv04)
    const validateDefinition = ajv04.compile(readJsonc('apiDefinition.swagger.schema.json'))
    for (const path of variants) {
      expect(validateDefinition(committedJson(path)), `${path}: ${JSON.stringify(validateDefinition.errors, null, 1)}`).toBe(true)
    }
    const propertiesSchema = readJsonc('paconn-apiProperties.schema.json')
    delete propertiesSchema.id
    const ajv7 = new Ajv7({ strict: false, allErrors: true })
    addFormats(ajv7)
    const validateProperties = ajv7.compile(propertiesSchema)
    for (const path of ['apiProperties.json', 'entra-id/apiProperties.json']) {
      expect(validateProperties(committedJson(path)), `${path}: ${JSON.stringify(validateProperties.errors, null, 1)}`).toBe(true)
    }
    // The schemas catch mistakes: x-ms-notification-content on the operation is refused.
    const wrong = structuredClone(committedJson('apiDefinition.swagger.json'))
    const triggerItem = (wrong.paths as Json)['/v1/triggers/goods-received'] as Json
    ;(triggerItem.post as Json)['x-ms-notification-content'] = triggerItem['x-ms-notification-content']
    expect(validateDefinition(wrong)).toBe(false)
  })

  it('follows Microsoft\'s string rules and certification guidance', () => {
    for (const path of variants) {
      const definition = committedJson(path)
      const info = definition.info as Json
      expect(info.title).toBe(CONNECTOR_TITLE)
      expect(String(info.title).length).toBeLessThanOrEqual(30)
      expect(String(info.title)).not.toMatch(/\bapi\b|connector/i)
      expect(String(info.description).length).toBeGreaterThanOrEqual(30)
      expect(String(info.description).length).toBeLessThanOrEqual(500)
      expect(info.description).toBe(CONNECTOR_DESCRIPTION)
      expect(definition.host).toMatch(/^[^{}/ :\\]+(?::\d+)?$/)
      const metadata = (definition['x-ms-connector-metadata'] as { propertyName: string }[]).map((m) => m.propertyName)
      expect(metadata).toEqual(expect.arrayContaining(['Website', 'Privacy policy', 'Categories']))
      const ids = new Set<string>()
      for (const { path: route, method, operation } of operations(definition)) {
        const where = `${method.toUpperCase()} ${route}`
        const id = String(operation.operationId)
        expect(id, where).toMatch(/^[A-Z][A-Za-z0-9]*$/)
        expect(ids.has(id), `${where}: duplicate operationId`).toBe(false)
        ids.add(id)
        const summary = String(operation.summary)
        expect(summary.length, where).toBeGreaterThan(0)
        expect(summary.length, where).toBeLessThanOrEqual(80)
        expect(summary, where).not.toMatch(/\/|[.!?:;,\s]$/)
        const description = String(operation.description)
        expect(description, where).toMatch(/\.$/)
        expect(description, where).not.toBe(summary)
        const responses = Object.keys(operation.responses as Json)
        expect(responses.some((code) => /^2\d\d$/.test(code)), `${where}: a 2xx response`).toBe(true)
        expect(responses, where).not.toContain('default')
        if (operation['x-ms-visibility'] !== undefined) expect(['important', 'advanced', 'internal'], where).toContain(operation['x-ms-visibility'])
        for (const parameter of (operation.parameters ?? []) as Json[]) {
          expect(parameter.description, `${where} ${String(parameter.name)}`).toBeTruthy()
          expect(parameter['x-ms-summary'], `${where} ${String(parameter.name)}`).toBeTruthy()
        }
      }
      const text = JSON.stringify(definition)
      for (const keyword of ['"nullable"', '"examples"', '"anyOf"', '"oneOf"', '"const"', '"$id"']) expect(text, keyword).not.toContain(keyword)
      // Every x-ms-visibility anywhere is one of the three allowed values.
      for (const match of text.matchAll(/"x-ms-visibility":"([^"]*)"/g)) expect(['important', 'advanced', 'internal']).toContain(match[1])
    }
  })

  it('declares each catalogue entry\'s trigger as Power Automate needs it', () => {
    const definition = committedJson('apiDefinition.swagger.json')
    const paths = definition.paths as Json
    for (const entry of catalogue) {
      const item = paths[entry.trigger.path] as Json
      const trigger = item.post as Json
      expect(trigger).toMatchObject({ operationId: entry.trigger.operationId, summary: entry.trigger.summary, 'x-ms-trigger-hint': entry.trigger.hint })
      expect(trigger['x-ms-trigger']).toBe('single')
      expect(trigger.summary).toMatch(/^When /)
      const body = (trigger.parameters as Json[]).find((p) => p.in === 'body')!
      expect(body.required).toBe(true)
      const schema = body.schema as { properties: Record<string, Json>; required: string[] }
      expect(schema.properties.callbackUrl).toMatchObject({ type: 'string', 'x-ms-notification-url': true, 'x-ms-visibility': 'internal' })
      expect(schema.required).toEqual(['callbackUrl'])
      expect(schema.properties.storeId!['x-ms-dynamic-values']).toEqual({ operationId: 'ListStores', 'value-collection': 'items', 'value-path': 'storeId', 'value-title': 'name' })
      // Every filter of the entry and the delivery order, nothing else, with its label, help text and visibility.
      expect(Object.keys(schema.properties)).toEqual(['callbackUrl', ...entry.filters.map((filter) => filter.name), 'ordered'])
      expect(schema.properties.ordered).toMatchObject({ type: 'boolean', 'x-ms-summary': 'Deliver in order per store', 'x-ms-visibility': 'advanced' })
      for (const filter of entry.filters) {
        expect(schema.properties[filter.name]).toMatchObject({ ...filter.constraints, type: filter.type, 'x-ms-summary': filter.summary, description: filter.description, 'x-ms-visibility': filter.visibility })
      }
      expect(((trigger.responses as Json)['201'] as Json).headers).toHaveProperty('Location')
    }
    const adjusted = (paths['/v1/triggers/stock-adjusted'] as Json).post as Json
    expect(adjusted.summary).toBe('When stock is adjusted at a store')
    const reason = ((adjusted.parameters as Json[])[0]!.schema as { properties: Record<string, Json> }).properties.reason!
    expect(reason).toMatchObject({ type: 'string', enum: ['damaged', 'expired', 'stock-count', 'theft', 'other'], 'x-ms-visibility': 'important' })
    const unsubscribe = (paths['/v1/subscriptions/{subscriptionId}'] as Json).delete as Json
    expect(unsubscribe['x-ms-visibility']).toBe('internal')
    const listStores = operations(definition).find(({ operation }) => operation.operationId === 'ListStores')!
    expect(listStores.operation['x-ms-visibility']).toBe('internal')
    // The operator API is not in the connector: makers see the triggers.
    expect(operations(definition).map(({ operation }) => operation.operationId).sort()).toEqual(['DeleteSubscription', 'ListStores', 'WhenGoodsReceived', 'WhenStockAdjusted'])
  })

  it('describes exactly the notification the dispatcher sends (x-ms-notification-content = contracts\' schema)', () => {
    for (const path of variants) {
      for (const entry of catalogue) {
        const item = (committedJson(path).paths as Json)[entry.trigger.path] as Json
        expect(item.post).not.toHaveProperty('x-ms-notification-content')
        const content = item['x-ms-notification-content'] as Json
        expect(content.schema).toEqual(JSON.parse(JSON.stringify(entry.notification)))
        const properties = (content.schema as { properties: Record<string, Json> }).properties
        for (const [name, property] of Object.entries(properties)) expect(property['x-ms-summary'], name).toBeTruthy()
      }
      const goods = (committedJson(path).paths as Json)['/v1/triggers/goods-received'] as Json
      expect((goods['x-ms-notification-content'] as Json).schema).toEqual(JSON.parse(JSON.stringify(GoodsReceivedNotification)))
    }
  })

  it('has an API key connection, an Entra ID variant, and a 230×230 opaque icon in the brand colour', () => {
    const apiKey = committedJson('apiProperties.json').properties as Json
    expect((apiKey.connectionParameters as Json).api_key).toMatchObject({ type: 'securestring' })
    expect(committedJson('apiDefinition.swagger.json').securityDefinitions).toEqual({ api_key: { type: 'apiKey', in: 'header', name: 'X-API-Key' } })
    const entra = committedJson('entra-id/apiProperties.json').properties as Json
    expect((entra.connectionParameters as Json).token).toMatchObject({ type: 'oauthSetting', oAuthSettings: { identityProvider: 'aad' } })
    expect(Object.values(committedJson('entra-id/apiDefinition.swagger.json').securityDefinitions as Json)).toMatchObject([{ type: 'oauth2' }])
    expect(apiKey.iconBrandColor).toBe(ICON_BRAND_COLOR)
    expect(ICON_BRAND_COLOR).toMatch(/^#[0-9a-f]{6}$/)
    expect(['#007ee5', '#ffffff']).not.toContain(ICON_BRAND_COLOR)

    const png = committed('icon.png')
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG')
    expect(png.readUInt32BE(16)).toBe(230)
    expect(png.readUInt32BE(20)).toBe(230)
    expect(png[25]).toBe(2) // truecolour without alpha: opaque
    const idat = png.subarray(png.indexOf('IDAT') + 4, png.indexOf('IEND') - 8)
    const pixels = inflateSync(idat)
    expect(pixels).toHaveLength(230 * (1 + 230 * 3))
    const corner = `#${pixels.subarray(1, 4).toString('hex')}`
    expect(corner).toBe(ICON_BRAND_COLOR)
  })
})

describe('served live', () => {
  it('serves the definition with the deployment\'s host, and /docs/json without a key', async () => {
    const served = await app.inject({ method: 'GET', url: '/connector/apiDefinition.swagger.json' })
    expect(served.statusCode).toBe(200)
    expect(served.json()).toEqual(committedJson('apiDefinition.swagger.json'))
    expect((await app.inject({ method: 'GET', url: '/connector/apiProperties.json' })).json()).toEqual(committedJson('apiProperties.json'))
    for (const path of ['icon.png', 'entra-id/icon.png']) {
      const icon = await app.inject({ method: 'GET', url: `/connector/${path}` })
      expect(icon.statusCode, path).toBe(200)
      expect(icon.headers['content-type']).toBe('image/png')
      expect(icon.rawPayload.equals(committed(path)), path).toBe(true)
    }
    const other = await build(testSettings(ns, [contoso], { publicBaseUrl: 'https://api.contoso.com/arrivals' }))
    try {
      const definition = (await other.inject({ method: 'GET', url: '/connector/entra-id/apiDefinition.swagger.json' })).json()
      expect(definition).toMatchObject({ host: 'api.contoso.com', basePath: '/arrivals', schemes: ['https'] })
      const docs = await other.inject({ method: 'GET', url: '/docs/json' })
      expect(docs.statusCode).toBe(200)
      expect(docs.json().swagger).toBe('2.0')
      expect(Object.keys(docs.json().paths)).toEqual(expect.arrayContaining(['/v1/subscriptions', '/v1/dead-letters', '/v1/triggers/goods-received']))
    } finally {
      await other.close()
    }
  })
})

/**
 * Behaves like Power Automate: reads only the served definition, finds the trigger and its
 * notification-url property, subscribes with the connection's credentials, expects 201 + Location
 * on the connector's host, and later DELETEs that Location.
 */
async function actLikePowerAutomate(baseUrl: string, definitionPath: string, credentials: Record<string, string>): Promise<void> {
  const definition = await (await fetch(`${baseUrl}${definitionPath}`)).json() as Json
  const apiBase = `${String((definition.schemes as string[])[0])}://${String(definition.host)}${definition.basePath === '/' ? '' : String(definition.basePath)}`
  const trigger = operations(definition).find(({ operation }) => operation['x-ms-trigger'] === 'single')!
  const body = (trigger.operation.parameters as Json[]).find((p) => p.in === 'body')!
  const properties = (body.schema as { properties: Record<string, Json> }).properties
  const notificationProperty = Object.entries(properties).find(([, schema]) => schema['x-ms-notification-url'] === true)![0]
  const response = await fetch(`${apiBase}${trigger.path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-ms-workflow-id': 'wf-1', 'x-ms-trigger-type': 'OpenApiConnectionWebhook', ...credentials },
    body: JSON.stringify({ [notificationProperty]: callbackUrl().url, minQuantity: 3 }),
  })
  expect(response.status, await response.clone().text()).toBe(201)
  const location = new URL(response.headers.get('location')!)
  expect(location.host).toBe(definition.host)
  const unsubscribe = operations(definition).find(({ method, operation }) => method === 'delete' && operation['x-ms-visibility'] === 'internal')!
  expect(location.pathname).toMatch(new RegExp(`^${unsubscribe.path.replace(/\{[^}]+\}/g, '[^/]+')}$`))
  expect((await fetch(location, { method: 'DELETE', headers: credentials })).status).toBe(204)
  expect([204, 404]).toContain((await fetch(location, { method: 'DELETE', headers: credentials })).status)
}

describe('a client that behaves like Power Automate', () => {
  let served: FastifyInstance
  let jwks: Server
  let baseUrl: string
  const issuer = 'https://login.microsoftonline.com/aaaaaaaa-0000-0000-0000-000000000000/v2.0'
  const audience = 'api://arrivals'
  let token: string

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256')
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' }
    jwks = createServer((_request, response) => { response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })) })
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
    token = await new SignJWT({ tid: 'entra-tenant-1' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(issuer).setAudience(audience).setExpirationTime('10m').sign(pair.privateKey)
    // No PUBLIC_BASE_URL: the definition and the Location take the host the client used.
    served = await build(testSettings(ns, [contoso], {
      publicBaseUrl: undefined,
      entra: { issuer, audience, jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/keys` },
    }))
    await served.listen({ port: 0, host: '127.0.0.1' })
    baseUrl = `http://127.0.0.1:${(served.server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await served?.close()
    jwks?.closeAllConnections()
    await new Promise((resolve) => jwks?.close(resolve))
  })

  it('subscribes and unsubscribes over HTTP with an API key connection', async () => {
    await actLikePowerAutomate(baseUrl, '/connector/apiDefinition.swagger.json', { 'x-api-key': contoso.apiKey })
  })

  it('subscribes and unsubscribes over HTTP with an Entra ID (OAuth) connection', async () => {
    await actLikePowerAutomate(baseUrl, '/connector/entra-id/apiDefinition.swagger.json', { authorization: `Bearer ${token}` })
  })
})
