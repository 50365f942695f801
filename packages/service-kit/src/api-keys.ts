import { createHash } from 'node:crypto'

/** Only the SHA-256 of a key is kept in memory and at rest; a key is high-entropy, so no KDF is needed. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex')
}

export const MIN_API_KEY_LENGTH = 16

/**
 * Parses `API_KEYS`: `tenantId:key` pairs separated by commas. Returns key hash → tenant id.
 * Throws with a message that names the bad entry by position (never the key itself).
 */
export function parseApiKeys(value: string | undefined): Map<string, string> {
  const keys = new Map<string, string>()
  if (!value) return keys
  value.split(',').map((entry) => entry.trim()).filter(Boolean).forEach((entry, index) => {
    const separator = entry.indexOf(':')
    const tenantId = entry.slice(0, separator)
    const key = entry.slice(separator + 1)
    if (separator <= 0 || !/^[A-Za-z0-9_-]{1,64}$/.test(tenantId)) {
      throw new Error(`API_KEYS entry ${index + 1} must be tenantId:key with a tenant id of letters, digits, "-" or "_"`)
    }
    if (key.length < MIN_API_KEY_LENGTH) {
      throw new Error(`API_KEYS entry ${index + 1} (tenant ${tenantId}) has a key shorter than ${MIN_API_KEY_LENGTH} characters`)
    }
    keys.set(hashApiKey(key), tenantId)
  })
  return keys
}
