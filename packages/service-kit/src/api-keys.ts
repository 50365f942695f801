import { createHash } from 'node:crypto'

/** Only the SHA-256 of a key is kept in memory and at rest; a key is high-entropy, so no KDF is needed. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex')
}

export const MIN_API_KEY_LENGTH = 16

/**
 * What credentials may do. A maker builds flows (the connector's routes); an operator also runs the
 * tenant's subscriptions and dead letters (the operator API and the console).
 */
export type Role = 'maker' | 'operator'

/** Who the caller is: the tenant its credentials name, and their role. */
export interface Credential {
  tenantId: string
  role: Role
}

const ROLE_SUFFIXES: ReadonlyArray<[suffix: string, role: Role]> = [[':operator', 'operator'], [':maker', 'maker']]

/**
 * Parses `API_KEYS`: `tenantId:key` (a maker's key) or `tenantId:key:operator` (an operator's)
 * entries separated by commas. Returns key hash → credential. Throws with a message that names the
 * bad entry by position (never the key itself).
 */
export function parseApiKeys(value: string | undefined): Map<string, Credential> {
  const keys = new Map<string, Credential>()
  if (!value) return keys
  value.split(',').map((entry) => entry.trim()).filter(Boolean).forEach((entry, index) => {
    const separator = entry.indexOf(':')
    const tenantId = entry.slice(0, separator)
    let key = entry.slice(separator + 1)
    let role: Role = 'maker'
    const suffix = ROLE_SUFFIXES.find(([ending]) => key.endsWith(ending))
    if (suffix) {
      key = key.slice(0, -suffix[0].length)
      role = suffix[1]
    }
    if (separator <= 0 || !/^[A-Za-z0-9_-]{1,64}$/.test(tenantId)) {
      throw new Error(`API_KEYS entry ${index + 1} must be tenantId:key or tenantId:key:operator with a tenant id of letters, digits, "-" or "_"`)
    }
    if (key.length < MIN_API_KEY_LENGTH) {
      throw new Error(`API_KEYS entry ${index + 1} (tenant ${tenantId}) has a key shorter than ${MIN_API_KEY_LENGTH} characters`)
    }
    keys.set(hashApiKey(key), { tenantId, role })
  })
  return keys
}
