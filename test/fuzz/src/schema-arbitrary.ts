import fc, { type Arbitrary } from 'fast-check'

/** A JSON Schema (the subset TypeBox and @fastify/swagger produce), every `$ref` already resolved. */
export type Schema = Record<string, unknown>

const MAX_STRING = 64
const MAX_ITEMS = 4

function asSchema(value: unknown): Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Schema : {}
}

function typesOf(schema: Schema): string[] {
  if (Array.isArray(schema.type)) return schema.type as string[]
  if (typeof schema.type === 'string') return [schema.type]
  if (schema.properties) return ['object']
  if (schema.items) return ['array']
  return []
}

/** Values that satisfy the schema: what a well-behaved client sends. */
export function validValue(schema: Schema, depth = 0): Arbitrary<unknown> {
  const branches = (schema.anyOf ?? schema.oneOf) as unknown[] | undefined
  if (Array.isArray(branches) && branches.length) return fc.oneof(...branches.map((branch) => validValue(asSchema(branch), depth + 1)))
  if (Array.isArray(schema.allOf)) return validValue(Object.assign({}, ...schema.allOf.map(asSchema)) as Schema, depth + 1)
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (Array.isArray(schema.enum) && schema.enum.length) return fc.constantFrom(...schema.enum)
  const types = typesOf(schema)
  if (types.length > 1) return fc.oneof(...types.map((type) => validValue({ ...schema, type }, depth + 1)))
  switch (types[0]) {
    case 'string': return validString(schema)
    case 'integer': {
      const min = Number(schema.minimum ?? (schema.exclusiveMinimum !== undefined ? Number(schema.exclusiveMinimum) + 1 : -1_000))
      const max = Number(schema.maximum ?? (schema.exclusiveMaximum !== undefined ? Number(schema.exclusiveMaximum) - 1 : Math.max(min, 0) + 1_000))
      return fc.integer({ min, max })
    }
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: Number(schema.minimum ?? -1e6), max: Number(schema.maximum ?? 1e6) })
    case 'boolean': return fc.boolean()
    case 'null': return fc.constant(null)
    case 'array': {
      const minLength = Number(schema.minItems ?? 0)
      return fc.array(depth > 4 ? fc.constant(null) : validValue(asSchema(schema.items), depth + 1), {
        minLength, maxLength: Math.max(minLength, Math.min(Number(schema.maxItems ?? MAX_ITEMS), MAX_ITEMS)),
      })
    }
    case 'object': {
      const properties = asSchema(schema.properties)
      const required = Array.isArray(schema.required) ? schema.required as string[] : []
      const model = Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, validValue(asSchema(value), depth + 1)]))
      return fc.record(model, { requiredKeys: required.filter((key) => key in model) })
    }
    default:
      return fc.jsonValue({ maxDepth: 2 })
  }
}

function validString(schema: Schema): Arbitrary<string> {
  const minLength = Number(schema.minLength ?? 0)
  const maxLength = Math.max(minLength, Math.min(Number(schema.maxLength ?? MAX_STRING), MAX_STRING))
  if (schema.format === 'date-time') return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((date) => date.toISOString())
  if (schema.format === 'uri' || schema.format === 'url' || schema['x-ms-notification-url'] === true) return callbackLikeUrl
  if (typeof schema.pattern === 'string') {
    return fc.stringMatching(new RegExp(schema.pattern)).filter((text) => text.length >= minLength && text.length <= Number(schema.maxLength ?? Infinity))
  }
  return fc.string({ minLength, maxLength, unit: 'grapheme' })
}

/**
 * URLs a platform could hand over as a callback: mostly on the fuzz run's allowed host (so
 * subscribes succeed and the rest of the API has subscriptions to work on), some anywhere.
 */
export const FUZZ_CALLBACK_HOSTS = '*.fuzz.invalid'
const callbackLikeUrl: Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 0, max: 99 }), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 8, maxLength: 32 }), fc.base64String({ maxLength: 44 }))
    .map(([region, workflow, sig]) => `https://prod-${region}.fuzz.invalid/workflows/${workflow}/triggers/manual/paths/invoke?api-version=2016-06-01&sig=${encodeURIComponent(sig)}`) },
  { weight: 1, arbitrary: fc.webUrl({ withQueryParameters: true }) },
)

/** Ids the services handed out during the run (subscriptions, dead letters): path parameters reuse them. */
export const knownIds: string[] = []

/** Strings that break naive code: traversal, encodings, control characters, injections, huge ones. */
export const nastyString: Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '', ' ', '../../etc/passwd', '..%2f..%2f', '%00', '\u0000', '\r\nX-Injected: 1', '{"$ne":null}', "' OR 1=1 --",
    '__proto__', 'constructor', 'prototype', '<script>alert(1)</script>', '${jndi:ldap://x}', '\ud800', '🛒'.repeat(40),
    'NaN', 'Infinity', '-0', '1e309', 'null', 'true', '[]', '{}', 'javascript:alert(1)', 'http://169.254.169.254/latest/meta-data',
    'http://[::ffff:127.0.0.1]/', 'https://0x7f000001/', 'https://2130706433/', 'file:///etc/passwd',
    // A leap second: valid RFC 3339 that no JavaScript date holds.
    '2016-12-31T23:59:60Z', '2026-06-30T23:59:60.5+00:00',
  ),
  fc.string({ minLength: 65, maxLength: 400 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer({ min: 1_000, max: 20_000 }).map((length) => 'x'.repeat(length)),
)

/** Any JSON value of a type the schema does not allow (or any at all, when it allows everything). */
function wrongType(schema: Schema): Arbitrary<unknown> {
  const types = typesOf(schema)
  const candidates: [string, Arbitrary<unknown>][] = [
    ['string', nastyString], ['integer', fc.integer({ min: -2_000_000_000, max: 2_000_000_000 })],
    ['number', fc.constantFrom(1.5, -0.5, 1e308, -1e308, 2 ** 53 + 1)], ['boolean', fc.boolean()], ['null', fc.constant(null)],
    ['array', fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 })], ['object', fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 })],
  ]
  const wrong = candidates.filter(([type]) => !types.includes(type) && !(type === 'integer' && types.includes('number')))
  return fc.oneof(...(wrong.length ? wrong : candidates).map(([, arbitrary]) => arbitrary))
}

/** Values mutated out of the schema: one thing wrong (or many), somewhere in an otherwise valid value. */
export function mutatedValue(schema: Schema, depth = 0): Arbitrary<unknown> {
  const types = typesOf(schema)
  const outOfBounds: Arbitrary<unknown>[] = [wrongType(schema)]
  if (types.includes('string')) {
    outOfBounds.push(nastyString)
    if (schema.maxLength !== undefined) outOfBounds.push(fc.constant('y'.repeat(Number(schema.maxLength) + 1)))
  }
  if (types.includes('integer') || types.includes('number')) {
    outOfBounds.push(fc.constantFrom(0, -1, 1.5, Number.MAX_SAFE_INTEGER + 2, -Number.MAX_SAFE_INTEGER))
    if (schema.maximum !== undefined) outOfBounds.push(fc.constant(Number(schema.maximum) + 1))
    if (schema.minimum !== undefined) outOfBounds.push(fc.constant(Number(schema.minimum) - 1))
  }
  if (types.includes('array') && depth < 4) {
    outOfBounds.push(fc.constant([]))
    outOfBounds.push(fc.array(mutatedValue(asSchema(schema.items), depth + 1), { minLength: 1, maxLength: 3 }))
    if (schema.maxItems !== undefined && Number(schema.maxItems) <= 1_000) {
      outOfBounds.push(validValue(asSchema(schema.items), depth + 1).map((item) => Array.from({ length: Number(schema.maxItems) + 1 }, () => item)))
    }
  }
  const properties = asSchema(schema.properties)
  const keys = Object.keys(properties)
  if (types.includes('object') && depth < 4 && keys.length) {
    const required = Array.isArray(schema.required) ? schema.required as string[] : []
    outOfBounds.push(
      // One property replaced by a mutated value.
      fc.tuple(validValue(schema, depth) as Arbitrary<Record<string, unknown>>, fc.constantFrom(...keys))
        .chain(([value, key]) => mutatedValue(asSchema(properties[key]), depth + 1).map((bad) => ({ ...value, [key]: bad }))),
      // A required property missing.
      ...(required.length ? [fc.tuple(validValue(schema, depth) as Arbitrary<Record<string, unknown>>, fc.constantFrom(...required))
        .map(([value, key]) => Object.fromEntries(Object.entries(value).filter(([name]) => name !== key)))] : []),
      // Properties nobody declared, including prototype-pollution attempts.
      fc.tuple(validValue(schema, depth) as Arbitrary<Record<string, unknown>>, fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 3 }))
        .map(([value, extra]) => ({ ...value, ...extra })),
      fc.constant(JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') as unknown),
    )
  }
  return fc.oneof(...outOfBounds)
}
