import type { FastifyInstance } from 'fastify'
import { HttpError } from './errors.js'

export interface JsonBodyChoices {
  /** A POST without a body (…/test, …/rotate) is no error where the service says so; else a 400. */
  allowEmpty?: boolean
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

// JSON.parse makes "__proto__" an own key, harmless to JSON.parse itself but a trap for any code that
// copies the object; refused with a 400 that names it. Escapes can spell the key, so any \u counts.
const MAY_NAME_PROTO = /proto|\\u/i

function refuseProtoKeys(key: string, value: unknown): unknown {
  if (key === '__proto__') throw new HttpError(400, 'the body has a "__proto__" key, which is never accepted; remove it', 'FORBIDDEN_KEY')
  return value
}

/**
 * JSON request bodies alike in every service: the body is taken as sent (a compressed one is a 415
 * that says to send it uncompressed, since no service decompresses), must be valid UTF-8 (a 400, not
 * U+FFFD stored in its place), and may not carry a "__proto__" key. Anything but application/json
 * is a 415 (text/plain included).
 */
export function installJsonBodies(app: FastifyInstance, { allowEmpty = false }: JsonBodyChoices = {}): void {
  app.removeContentTypeParser(['text/plain', 'application/json'])
  app.addHook('preParsing', async (request) => {
    const encoding = request.headers['content-encoding']
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      throw new HttpError(415, `unsupported Content-Encoding ${JSON.stringify(encoding)}; send the body uncompressed`, 'UNSUPPORTED_CONTENT_ENCODING')
    }
  })
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    const bytes = body as Buffer
    if (bytes.length === 0) {
      if (allowEmpty) return done(null, undefined)
      return done(new HttpError(400, 'the body is empty; send a JSON object', 'FST_ERR_CTP_EMPTY_JSON_BODY'), undefined)
    }
    let text: string
    try {
      text = utf8.decode(bytes)
    } catch {
      return done(new HttpError(400, 'the body is not valid UTF-8; send JSON encoded as UTF-8', 'INVALID_UTF8'), undefined)
    }
    try {
      done(null, MAY_NAME_PROTO.test(text) ? JSON.parse(text, refuseProtoKeys) : JSON.parse(text))
    } catch (error) {
      if (error instanceof HttpError) return done(error, undefined)
      done(Object.assign(error as Error, { statusCode: 400 }), undefined)
    }
  })
}
