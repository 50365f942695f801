/**
 * What a consumer parses from the broker at most. A message is written by anyone who can publish, so
 * its shape is not trusted before it is parsed: a body nested 100,000 deep parses (V8's JSON.parse
 * does not recurse) but then overflows the stack in every recursive step after it (schema checks,
 * JSON.stringify on the way to a retry or a dead letter). Both limits sit far above any valid event
 * or task (an event of 500 lines is about 200 KB, 4 levels deep).
 */
export const brokerMessageLimits = {
  maxBytes: 1_048_576,
  maxDepth: 32,
} as const

export type BoundedJson = { ok: true; value: unknown } | { ok: false; reason: string }

const OPEN_OBJECT = 0x7b
const OPEN_ARRAY = 0x5b
const CLOSE_OBJECT = 0x7d
const CLOSE_ARRAY = 0x5d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/** How deep the JSON text nests, counted in one pass over its bytes (strings skipped), without recursion. */
export function jsonDepth(bytes: Uint8Array, stopAbove = Infinity): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index]
    if (inString) {
      if (byte === BACKSLASH) index++
      else if (byte === QUOTE) inString = false
    } else if (byte === QUOTE) {
      inString = true
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      depth++
      if (depth > deepest) {
        deepest = depth
        if (deepest > stopAbove) return deepest
      }
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      depth--
    }
  }
  return deepest
}

/**
 * Parses a broker message body within `brokerMessageLimits`: refused before JSON.parse when it is
 * too large or nested too deep, with a reason a dead letter can carry. `what` names the message.
 */
export function parseBoundedJson(body: Buffer | string, what: string, limits = brokerMessageLimits): BoundedJson {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
  if (bytes.length > limits.maxBytes) {
    return { ok: false, reason: `${what} is ${bytes.length} bytes, over the limit of ${limits.maxBytes}` }
  }
  if (jsonDepth(bytes, limits.maxDepth) > limits.maxDepth) {
    return { ok: false, reason: `${what} is nested deeper than ${limits.maxDepth} levels` }
  }
  try {
    return { ok: true, value: JSON.parse(bytes.toString('utf8')) }
  } catch {
    return { ok: false, reason: `${what} is not valid JSON` }
  }
}
