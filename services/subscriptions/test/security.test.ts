import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { hostname } from 'node:os'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNamespace, logCapture, sendRaw, waitFor } from '@arrivals/test-kit'
import { loggerOptions } from '@arrivals/service-kit'
import { readSettings } from '../src/settings.js'
import { as, build, callbackUrl, subscribe, tenant, testSettings } from './support.js'

const ns = createNamespace('subs-security')
const contoso = tenant('contoso')
const fabrikam = tenant('fabrikam')

describe('callback URL safety (SSRF)', () => {
  let strict: FastifyInstance
  let allowList: FastifyInstance
  beforeAll(async () => {
    strict = await build(testSettings(ns, [contoso], { callbackAllowPrivate: false }))
    allowList = await build(testSettings(ns, [contoso], { callbackAllowPrivate: true, callbackAllowedHosts: ['*.logic.azure.com'] }))
  })
  afterAll(async () => {
    await strict?.close()
    await allowList?.close()
  })

  const refused: [string, RegExp][] = [
    ['http://52.174.10.20/invoke', /must use https/],
    ['ftp://52.174.10.20/invoke', /must use https/],
    ['https://127.0.0.1/invoke', /loopback/],
    ['https://localhost/invoke', /internal host/],
    ['https://[::1]/invoke', /loopback/],
    ['https://[::ffff:127.0.0.1]/invoke', /loopback/],
    ['https://[::ffff:a9fe:a9fe]/invoke', /link-local/],
    ['https://169.254.169.254/latest/meta-data', /link-local/],
    ['https://2130706433/invoke', /loopback/],
    ['https://0x7f.1/invoke', /loopback/],
    ['https://0177.0.0.1/invoke', /loopback/],
    ['https://10.1.2.3/invoke', /private/],
    ['https://172.16.0.1/invoke', /private/],
    ['https://192.168.1.1/invoke', /private/],
    ['https://100.64.0.1/invoke', /carrier-grade NAT/],
    ['https://0.0.0.0/invoke', /unspecified/],
    ['https://[fd00::1]/invoke', /unique-local/],
    ['https://[fe80::1]/invoke', /link-local/],
    ['https://user:pw@52.174.10.20/invoke', /credentials/],
    // The cluster's egress policy opens CALLBACK_ALLOWED_PORTS only (default 443).
    ['https://52.174.10.20:8443/invoke', /port 8443 is not allowed; allowed ports: 443/],
    ['https://metadata.google.internal/computeMetadata', /internal host/],
    [`https://${hostname()}/invoke`, /resolves to|internal host|does not resolve/],
  ]

  it('refuses every internal spelling with a 400 that says why', async () => {
    for (const [url, reason] of refused) {
      const response = await subscribe(strict, contoso, { callbackUrl: url })
      expect(response.statusCode, url).toBe(400)
      expect(response.json().code, url).toBe('CALLBACK_REFUSED')
      expect(response.json().message, url).toMatch(reason)
    }
  })

  it('accepts a public https address', async () => {
    const response = await subscribe(strict, contoso, { callbackUrl: 'https://52.174.10.20/workflows/1/triggers/manual/paths/invoke?sig=abc' })
    expect(response.statusCode, response.body).toBe(201)
  })

  it('CALLBACK_ALLOW_PRIVATE lifts the address rules; CALLBACK_ALLOWED_HOSTS narrows the hosts', async () => {
    const lifted = await build(testSettings(ns, [contoso], { callbackAllowPrivate: true }))
    try {
      expect((await subscribe(lifted, contoso, { callbackUrl: 'http://127.0.0.1:9/invoke' })).statusCode).toBe(201)
    } finally {
      await lifted.close()
    }
    expect((await subscribe(allowList, contoso, { callbackUrl: callbackUrl('prod-12.westeurope.logic.azure.com').url })).statusCode).toBe(201)
    const other = await subscribe(allowList, contoso, { callbackUrl: 'https://evil.example.com/hook' })
    expect(other.statusCode).toBe(400)
    expect(other.json().message).toMatch(/not in the allowed hosts/)
  })
})

describe('the callback URL never appears in logs or listings', () => {
  it('logs nothing of the query string, at debug level, for subscribe, list, get and delete', async () => {
    const lines: string[] = []
    const stream = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    const app = await build(testSettings(ns, [contoso]), { level: 'debug', stream })
    try {
      const { url, sig } = callbackUrl()
      const created = await subscribe(app, contoso, { callbackUrl: url, storeId: 'logged' })
      expect(created.statusCode).toBe(201)
      const id = created.json().id
      const secret = created.json().signingSecret
      // Re-subscribe, a refusal, listings, and an error: every path a callback travels.
      await subscribe(app, contoso, { callbackUrl: url, storeId: 'logged' })
      await subscribe(app, contoso, { callbackUrl: `${url}&x=1`, storeId: 'no spaces allowed' })
      const list = await app.inject({ method: 'GET', url: '/v1/subscriptions', headers: as(contoso) })
      const one = await app.inject({ method: 'GET', url: `/v1/subscriptions/${id}`, headers: as(contoso) })
      await app.inject({ method: 'DELETE', url: `/v1/subscriptions/${id}`, headers: as(contoso) })
      for (const text of [list.body, one.body]) {
        expect(text).toContain(url.split('?')[0])
        expect(text).not.toContain(sig)
        expect(text).not.toContain('api-version')
        expect(text).not.toContain(secret)
      }
      const log = lines.join('')
      expect(lines.length).toBeGreaterThan(5)
      expect(log).toContain(id)
      expect(log).not.toContain(sig)
      expect(log).not.toContain('api-version')
      expect(log).not.toContain(secret)
      expect(log).not.toContain(contoso.apiKey)
    } finally {
      await app.close()
    }
  })
})

describe('no secret in any log line at trace level: parse errors and query strings too', () => {
  it('logs neither the raw bytes of a request Node cannot parse nor a key sent in the query string', async () => {
    const capture = logCapture()
    const app = await build(testSettings(ns, [contoso]), { ...(loggerOptions('subscriptions', 'trace') as object), stream: capture.stream })
    try {
      await app.listen({ port: 0, host: '127.0.0.1' })
      const { port } = app.server.address() as AddressInfo
      const bearer = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(24).toString('base64url')}.${randomBytes(24).toString('base64url')}`
      const signature = `v1,${randomBytes(32).toString('base64')}`
      const secrets = `X-API-Key: ${contoso.apiKey}\r\nAuthorization: Bearer ${bearer}\r\nwebhook-signature: ${signature}\r\n`
      // A NUL in a header value, then a chunk size that is not hexadecimal: both answered 400 by Node's parser.
      const nul = await sendRaw(port, `GET /v1/subscriptions HTTP/1.1\r\nHost: localhost\r\n${secrets}X-Bad: a\u0000b\r\n\r\n`)
      const chunk = await sendRaw(port, `POST /v1/triggers/goods-received HTTP/1.1\r\nHost: localhost\r\n${secrets}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n`)
      expect(nul).toMatch(/^HTTP\/1\.1 400/)
      expect(chunk).toMatch(/^HTTP\/1\.1 400/)
      // A key in the query string is refused (only the header counts) and never logged whole.
      const queried = await app.inject({ method: 'GET', url: `/v1/subscriptions?api_key=${contoso.apiKey}&code=${contoso.apiKey}` })
      expect(queried.statusCode).toBe(401)
      await waitFor(() => capture.lines.filter((line) => line.includes('client error')).length >= 2, { what: 'both parse errors logged' })
      const log = capture.text()
      expect(log).toContain('/v1/subscriptions?api_key=[redacted]&code=[redacted]')
      for (const secret of [contoso.apiKey, bearer, signature, signature.slice(3, 30), 'rawPacket']) expect(log).not.toContain(secret)
    } finally {
      await app.close()
    }
  })
})

describe('Entra ID bearer tokens', () => {
  const issuer = 'https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0'
  const audience = 'api://arrivals-test'
  const entraTenant = '9f8e7d6c-0000-4000-8000-123456789abc'
  let jwks: Server
  let app: FastifyInstance
  let signer: CryptoKey
  let stranger: CryptoKey
  let jwk: JWK

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256')
    signer = pair.privateKey
    stranger = (await generateKeyPair('RS256')).privateKey
    jwk = { ...(await exportJWK(pair.publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' }
    jwks = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }))
    })
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/discovery/v2.0/keys`
    app = await build(testSettings(ns, [contoso], { entra: { issuer, audience, jwksUrl } }))
  })
  afterAll(async () => {
    await app?.close()
    jwks?.closeAllConnections()
    await new Promise((resolve) => jwks?.close(resolve))
  })

  // An operator's token unless the claims say otherwise (most cases here call the operator API).
  function token(claims: Record<string, unknown> = {}, options: { key?: CryptoKey; expiresIn?: string; kid?: string } = {}) {
    return new SignJWT({ tid: entraTenant, roles: ['Arrivals.Operator'], ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'test-key' })
      .setIssuer(typeof claims.iss === 'string' ? claims.iss : issuer)
      .setAudience(typeof claims.aud === 'string' ? claims.aud : audience)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '10m')
      .sign(options.key ?? signer)
  }
  const bearer = async (value: string | Promise<string>) => ({ authorization: `Bearer ${await value}` })

  it('accepts a valid token and scopes everything to its tid', async () => {
    const headers = await bearer(token())
    const created = await app.inject({ method: 'POST', url: '/v1/triggers/goods-received', headers, payload: { callbackUrl: callbackUrl().url } })
    expect(created.statusCode, created.body).toBe(201)
    const listed = await app.inject({ method: 'GET', url: '/v1/subscriptions', headers })
    expect(listed.json().items.map((s: { id: string }) => s.id)).toEqual([created.json().id])
    // The API key tenant does not see the Entra tenant's subscription, and cannot delete it.
    expect((await app.inject({ method: 'GET', url: `/v1/subscriptions/${created.json().id}`, headers: as(contoso) })).statusCode).toBe(404)
    expect((await app.inject({ method: 'DELETE', url: `/v1/subscriptions/${created.json().id}`, headers: as(contoso) })).statusCode).toBe(404)
    expect((await app.inject({ method: 'DELETE', url: `/v1/subscriptions/${created.json().id}`, headers })).statusCode).toBe(204)
  })

  it('makes a token without the Arrivals.Operator app role a maker: the connector\'s routes, not the operator API', async () => {
    const maker = await bearer(token({ roles: ['Some.Other.Role'] }))
    const created = await app.inject({ method: 'POST', url: '/v1/triggers/goods-received', headers: maker, payload: { callbackUrl: callbackUrl().url } })
    expect(created.statusCode, created.body).toBe(201)
    const listed = await app.inject({ method: 'GET', url: '/v1/subscriptions', headers: await bearer(token({ roles: undefined })) })
    expect(listed.statusCode).toBe(403)
    expect(listed.json()).toMatchObject({ code: 'NOT_AN_OPERATOR', message: expect.stringMatching(/Arrivals\.Operator app role/) })
    expect((await app.inject({ method: 'GET', url: '/v1/subscriptions', headers: await bearer(token()) })).statusCode).toBe(200)
    expect((await app.inject({ method: 'DELETE', url: `/v1/subscriptions/${created.json().id}`, headers: maker })).statusCode).toBe(204)
  })

  it('refuses a wrong issuer, a wrong audience, an expired token, a foreign key and garbage with 401', async () => {
    const cases: [string, Promise<string> | string, RegExp][] = [
      ['issuer', token({ iss: 'https://login.microsoftonline.com/someone-else/v2.0' }), /"iss" claim/],
      ['audience', token({ aud: 'api://another-app' }), /"aud" claim/],
      ['expired', token({}, { expiresIn: '-5m' }), /expired/],
      ['foreign key', token({}, { key: stranger }), /not signed by a key/],
      ['unknown kid', token({}, { key: stranger, kid: 'other-key' }), /not signed by a key/],
      ['no tid', new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'test-key' }).setIssuer(issuer).setAudience(audience).setExpirationTime('10m').sign(signer), /"tid" claim/],
      ['garbage', 'not.a.token', /not a valid Entra ID access token/],
    ]
    for (const [what, value, message] of cases) {
      const response = await app.inject({ method: 'GET', url: '/v1/subscriptions', headers: await bearer(value) })
      expect(response.statusCode, what).toBe(401)
      expect(response.json().message, what).toMatch(message)
    }
    const basic = await app.inject({ method: 'GET', url: '/v1/subscriptions', headers: { authorization: 'Basic dXNlcjpwdw==' } })
    expect(basic.statusCode).toBe(401)
    expect(basic.json().message).toMatch(/Bearer/)
    const none = await app.inject({ method: 'GET', url: '/v1/subscriptions' })
    expect(none.statusCode).toBe(401)
    expect(none.json().message).toMatch(/X-API-Key or Authorization: Bearer/)
  })

  it('accepts the v1.0 and v2.0 issuer of the tenant when configured by ENTRA_TENANT_ID (the connector\'s sign-in gets v1.0 tokens by default)', async () => {
    const tid = '11111111-2222-3333-4444-555555555555'
    const fromEnv = readSettings({
      API_KEYS: `${contoso.id}:${contoso.apiKey}`, CALLBACK_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      ENTRA_TENANT_ID: tid, ENTRA_AUDIENCE: audience, ENTRA_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/discovery/v2.0/keys`,
    })
    const derived = await build(testSettings(ns, [contoso], { entra: fromEnv.entra }))
    try {
      for (const iss of [`https://sts.windows.net/${tid}/`, `https://login.microsoftonline.com/${tid}/v2.0`]) {
        const response = await derived.inject({ method: 'GET', url: '/v1/subscriptions', headers: await bearer(token({ iss, tid })) })
        expect(response.statusCode, `${iss}: ${response.body}`).toBe(200)
      }
      const foreign = await derived.inject({ method: 'GET', url: '/v1/subscriptions', headers: await bearer(token({ iss: 'https://sts.windows.net/someone-else/' })) })
      expect(foreign.statusCode).toBe(401)
    } finally {
      await derived.close()
    }
  })

  it('still accepts API keys beside tokens, and keeps tenants apart', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/subscriptions', headers: as(contoso) })
    expect(response.statusCode).toBe(200)
    const unknown = await app.inject({ method: 'GET', url: '/v1/subscriptions', headers: as(fabrikam) })
    expect(unknown.statusCode).toBe(401)
  })
})
