import Fastify from 'fastify'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { ajvOptions, installErrorHandling, installJsonBodies, loggerOptions, swagger2Document, withoutQueryValues } from '../../src/index.js'

describe('swagger2Document', () => {
  it('writes a union with null as x-nullable and a union of constants as an enum, leaving the input alone', () => {
    const input = {
      definitions: {
        Thing: {
          properties: {
            status: { anyOf: [{ type: 'integer' }, { type: 'null' }], description: 'HTTP status' },
            outcome: { anyOf: [{ type: 'string', enum: ['a'] }, { type: 'string', const: 'b' }] },
            mixed: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
          },
        },
      },
    }
    const copy = structuredClone(input)
    expect(swagger2Document(input).definitions.Thing.properties).toEqual({
      status: { type: 'integer', description: 'HTTP status', 'x-nullable': true },
      outcome: { type: 'string', enum: ['a', 'b'] },
      mixed: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
    })
    expect(input).toEqual(copy)
  })
})

describe('installJsonBodies', () => {
  async function echo(allowEmpty = false) {
    const app = Fastify({ ajv: ajvOptions() })
    installErrorHandling(app)
    installJsonBodies(app, { allowEmpty })
    app.post('/echo', async (request) => ({ body: request.body ?? null }))
    const post = (payload: string | Buffer, headers: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json', ...headers }, payload })
    return { app, post }
  }

  it('parses UTF-8 JSON, and refuses invalid UTF-8, a __proto__ key (escaped too), compression and text/plain', async () => {
    const { post } = await echo()
    expect((await post('{"name":"Caf\u00e9 \u{1F34E}"}')).json()).toEqual({ body: { name: 'Caf\u00e9 \u{1F34E}' } })
    expect((await post('{"\\u00e9":"\\u00e9"}')).json()).toEqual({ body: { '\u00e9': '\u00e9' } })
    const refused: [string | Buffer, Record<string, string>, number, RegExp][] = [
      [Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), {}, 400, /not valid UTF-8/],
      ['{"a":{"__proto__":{"polluted":true}}}', {}, 400, /"__proto__" key/],
      ['{"\\u005f\\u005fproto\\u005f\\u005f":1}', {}, 400, /"__proto__" key/],
      ['{"a":1}', { 'content-encoding': 'gzip' }, 415, /send the body uncompressed/],
      ['{"a":1}', { 'content-type': 'text/plain' }, 415, /send application\/json/],
      ['', {}, 400, /body is empty/],
      ['{"a":', {}, 400, /not valid JSON/],
    ]
    for (const [payload, headers, status, message] of refused) {
      const response = await post(payload, headers)
      expect(response.statusCode, String(payload)).toBe(status)
      expect(response.json().message, String(payload)).toMatch(message)
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('takes an empty body as none where the service allows it', async () => {
    const { post } = await echo(true)
    expect((await post('')).json()).toEqual({ body: null })
  })
})

describe('loggerOptions', () => {
  it('censors every query value, keeping the names', () => {
    expect(withoutQueryValues('/v1/subscriptions?api_key=k3y&since=2026&flag')).toBe('/v1/subscriptions?api_key=[redacted]&since=[redacted]&flag')
    expect(withoutQueryValues('/v1/subscriptions')).toBe('/v1/subscriptions')
  })

  it('logs a parse error without its raw request bytes, and a request without its query values', async () => {
    const lines: string[] = []
    const stream = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done() } })
    const app = Fastify({ logger: { ...(loggerOptions('test', 'trace') as object), stream } })
    app.get('/things', async () => ({}))
    await app.inject({ method: 'GET', url: '/things?code=SECRET-IN-QUERY' })
    const parseError = Object.assign(new Error('Parse Error: Invalid header value char'), { code: 'HPE_INVALID_HEADER_TOKEN', rawPacket: Buffer.from('X-API-Key: SECRET-IN-PACKET') })
    app.log.trace({ err: parseError }, 'client error')
    const log = lines.join('')
    expect(log).toContain('HPE_INVALID_HEADER_TOKEN')
    expect(log).toContain('/things?code=[redacted]')
    expect(log).not.toContain('SECRET')
    expect(log).not.toContain('rawPacket')
  })
})
