// W3C Trace Context level 1: version-traceid-parentid-flags, lower-case hex. An all-zero trace or
// parent id is invalid, and version ff is forbidden.
const TRACEPARENT = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/

/**
 * The traceparent worth carrying on, or undefined. Whatever is invalid is ignored, never refused, as
 * the specification asks. A repeated HTTP header counts as its first value.
 */
export function validTraceparent(value: unknown): string | undefined {
  const first = Array.isArray(value) ? value[0] : value
  return typeof first === 'string' && TRACEPARENT.test(first) ? first : undefined
}
