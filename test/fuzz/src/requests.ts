import fc, { type Arbitrary } from 'fast-check'
import { gzipSync } from 'node:zlib'
import type { Operation } from './openapi.js'
import { knownIds, mutatedValue, nastyString, validValue } from './schema-arbitrary.js'

export interface FuzzRequest {
  operationId: string
  method: string
  /** Path and query, already encoded (or deliberately not). */
  target: string
  headers: Record<string, string>
  body: string | Buffer | undefined
  /** What kind of request this was meant to be, for the failure message. */
  kind: string
}

export interface Credentials {
  /** A valid key of each tenant. */
  keys: string[]
}

const ONE_MEGABYTE_AND_A_BIT = 1_100_000

function pathSegment(value: unknown, raw: boolean): string {
  const text = (typeof value === 'string' ? value : JSON.stringify(value) ?? '').toWellFormed()
  // Raw: what a sloppy client sends (slashes, dots and percent signs as they are).
  return raw ? encodeURI(text).replaceAll('?', '%3F').replaceAll('#', '%23') : encodeURIComponent(text)
}

/** An id the service handed out earlier in the run (read when the request is generated). */
const knownId: Arbitrary<unknown> = fc.nat().map((n) => knownIds[n % Math.max(1, knownIds.length)] ?? 'sub_none')

const LEAP_SECOND = '2016-12-31T23:59:60Z'

/** Every string in a JSON value replaced, where `replace` says. */
function replaceStrings(value: unknown, replace: (text: string) => string): unknown {
  if (typeof value === 'string') return replace(value)
  if (Array.isArray(value)) return value.map((item) => replaceStrings(item, replace))
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, replaceStrings(item, replace)]))
  return value
}

interface BodyChoice { kind: string; text: string | Buffer | undefined; encoding?: string }

/**
 * A valid body made hostile in one of the ways an outside review found: a leap second in every
 * date-time, emoji strings within the documented character counts (two UTF-16 units each), a
 * `__proto__` key, a byte that is not UTF-8, or compression (real gzip, or plain JSON labelled gzip).
 */
function hostileBody(valid: unknown): Arbitrary<BodyChoice> {
  const text = JSON.stringify(valid)
  return fc.oneof(
    fc.constant({ kind: 'leap-second body', text: JSON.stringify(replaceStrings(valid, (s) => (/^\d{4}-\d{2}-\d{2}T/.test(s) ? LEAP_SECOND : s))) }),
    fc.integer({ min: 17, max: 64 }).map((count) => ({ kind: `${count}-emoji strings`, text: JSON.stringify(replaceStrings(valid, (s) => (s.includes('://') ? s : '\u{1F34E}'.repeat(count)))) })),
    fc.constant({ kind: '__proto__ key', text: text.startsWith('{') ? `{"__proto__":{"isAdmin":true},${text.slice(1)}` : `{"__proto__":${text}}` }),
    fc.nat().map((n) => {
      const bytes = Buffer.from(text)
      const at = n % (bytes.length + 1)
      return { kind: 'invalid UTF-8', text: Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff, 0xc3, 0x28]), bytes.subarray(at)]) }
    }),
    fc.constant({ kind: 'gzip body', text: gzipSync(text), encoding: 'gzip' }),
    fc.constantFrom('gzip', 'br', 'deflate').map((encoding) => ({ kind: `plain body labelled ${encoding}`, text, encoding })),
  )
}

/** One request in ten gets it. */
function rarely<T>(arbitrary: Arbitrary<T>): Arbitrary<T | undefined> {
  return fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary })
}

/** Requests generated from one operation: valid ones, and ones mutated out of its schemas. */
function operationRequest(op: Operation, credentials: Credentials): Arbitrary<FuzzRequest> {
  const pathParams = op.parameters.filter((p) => p.in === 'path')
  const queryParams = op.parameters.filter((p) => p.in === 'query')
  const headerParams = op.parameters.filter((p) => p.in === 'header')
  const param = (schema: Record<string, unknown>) => fc.oneof({ weight: 4, arbitrary: validValue(schema) }, { weight: 1, arbitrary: mutatedValue(schema) }, { weight: 1, arbitrary: nastyString })
  const body: Arbitrary<BodyChoice> = op.body
    ? fc.oneof(
        { weight: 3, arbitrary: validValue(op.body).map((value) => ({ kind: 'valid body', text: JSON.stringify(value) })) },
        { weight: 2, arbitrary: validValue(op.body).chain(hostileBody) },
        { weight: 4, arbitrary: mutatedValue(op.body).map((value) => ({ kind: 'mutated body', text: JSON.stringify(value) ?? 'null' })) },
        { weight: 1, arbitrary: nastyString.map((text) => ({ kind: 'garbage body', text })) },
        { weight: 1, arbitrary: fc.constant({ kind: 'no body', text: undefined }) },
      )
    : fc.oneof(
        { weight: 5, arbitrary: fc.constant({ kind: 'no body', text: undefined }) },
        { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((value) => ({ kind: 'unexpected body', text: JSON.stringify(value) })) },
      )
  return fc.record({
    path: fc.tuple(...pathParams.map((p) => fc.tuple(/Id$/.test(p.name) ? fc.oneof({ weight: 2, arbitrary: param(p.schema) }, { weight: 3, arbitrary: knownId }) : param(p.schema), fc.boolean()))),
    query: fc.tuple(...queryParams.map((p) => fc.option(param(p.schema), { nil: undefined }))),
    extraQuery: fc.option(fc.dictionary(fc.constantFrom('since', 'limit', 'cursor', 'x', '__proto__'), fc.oneof(nastyString, fc.constant(LEAP_SECOND)), { maxKeys: 2 }), { nil: undefined }),
    headerValues: fc.tuple(...headerParams.map((p) => fc.option(param(p.schema), { nil: undefined }))),
    auth: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...credentials.keys) },
      { weight: 1, arbitrary: fc.constantFrom(undefined, '', 'not-a-key', 'x'.repeat(5_000), `${credentials.keys[0]} `) },
    ),
    contentType: fc.oneof(
      { weight: 6, arbitrary: fc.constant('application/json') },
      { weight: 1, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data; boundary=x', '') },
    ),
    forwarded: rarely(fc.record({ 'x-forwarded-host': nastyString, 'x-forwarded-proto': fc.constantFrom('https', 'http', 'gopher', '') })),
    idempotencyKey: fc.option(fc.oneof(fc.uuid(), nastyString), { nil: undefined }),
    wrongMethod: rarely(fc.constantFrom('PUT', 'PATCH', 'GET', 'DELETE', 'POST', 'OPTIONS')),
    body,
  }).map((r) => {
    let path = op.path
    pathParams.forEach((p, index) => {
      const [value, raw] = r.path[index]!
      path = path.replace(`{${p.name}}`, pathSegment(value, raw))
    })
    const query = new URLSearchParams()
    queryParams.forEach((p, index) => {
      const value = r.query[index]
      if (value !== undefined) query.append(p.name, typeof value === 'string' ? value : JSON.stringify(value) ?? '')
    })
    for (const [key, value] of Object.entries(r.extraQuery ?? {})) query.append(key, value)
    const headers: Record<string, string> = {}
    headerParams.forEach((p, index) => {
      const value = r.headerValues[index]
      if (value !== undefined) headers[p.name.toLowerCase()] = typeof value === 'string' ? value : JSON.stringify(value) ?? ''
    })
    if (r.auth !== undefined) headers['x-api-key'] = r.auth
    if (r.body.text !== undefined && r.contentType) headers['content-type'] = r.contentType
    if (r.idempotencyKey !== undefined) headers['idempotency-key'] = r.idempotencyKey
    if (r.body.encoding !== undefined) headers['content-encoding'] = r.body.encoding
    Object.assign(headers, r.forwarded)
    // HTTP clients refuse control characters and non-Latin-1 in header values; what a server can
    // be sent there is Latin-1, so that is what is fuzzed.
    for (const [name, value] of Object.entries(headers)) headers[name] = value.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?')
    const queryText = query.toString()
    return {
      operationId: op.operationId,
      method: r.wrongMethod ?? op.method,
      target: queryText ? `${path}?${queryText}` : path,
      headers,
      body: r.body.text,
      kind: `${r.body.kind}${r.wrongMethod ? `, method ${r.wrongMethod}` : ''}${r.auth === undefined || !credentials.keys.includes(r.auth) ? ', bad key' : ''}`,
    }
  })
}

/** Requests across every operation of a service, plus a few oversized bodies. */
export function requestArbitrary(operations: Operation[], credentials: Credentials): Arbitrary<FuzzRequest> {
  const withBody = operations.filter((op) => op.body)
  return fc.oneof(
    { weight: 60, arbitrary: fc.constantFrom(...operations).chain((op) => operationRequest(op, credentials)) },
    ...(withBody.length ? [{
      weight: 1,
      arbitrary: fc.constantFrom(...withBody).chain((op) => operationRequest(op, credentials)).map((request) => ({
        ...request, kind: 'body over 1 MB', body: JSON.stringify({ padding: 'p'.repeat(ONE_MEGABYTE_AND_A_BIT) }),
        headers: { ...request.headers, 'content-type': 'application/json' },
      })),
    }] : []),
  )
}
