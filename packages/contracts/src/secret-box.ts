import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, type KeyObject, randomBytes } from 'node:crypto'

/**
 * Seals secrets at rest (callback URLs, signing secrets) with AES-256-GCM. The associated data binds
 * a sealed value to its record (tenant and subscription id), so a ciphertext copied onto another
 * record does not open. Format: `v2.<key id>.<iv>.<ciphertext+tag>`, base64url; the key id names the
 * key that sealed it, so a key can be rotated: the new key seals, the previous one still opens while
 * the values are re-sealed. Values from before key ids (`v1.<iv>.<ciphertext+tag>`) still open: each
 * key is tried, the current one first (GCM's tag tells a wrong key).
 */
export interface SecretBox {
  /** The current key's id (not secret: derived one-way from the key), as it appears in sealed values. */
  readonly keyId: string
  seal(plaintext: string, associatedData: string): string
  open(sealed: string, associatedData: string): string
  /** True when the value is not sealed with the current key (sealed by the previous key, or before key ids). */
  needsReseal(sealed: string): boolean
  /** A keyed, non-reversible fingerprint: equal inputs give equal fingerprints under one key. */
  fingerprint(input: string): string
  /** The input's fingerprint under each key, the current key's first: a lookup during a rotation tries them all. */
  fingerprints(input: string): string[]
}

/** One key, or the current key and the previous one during a rotation. */
export type SecretBoxKeys = Buffer | { current: Buffer; previous: Buffer }

export const ENCRYPTION_KEY_HELP =
  'CALLBACK_ENCRYPTION_KEY must be the base64 of 32 random bytes; make one with: ' +
  'node -e "console.log(require(\'node:crypto\').randomBytes(32).toString(\'base64\'))"'

function decodeKey(name: string, value: string): Buffer {
  const key = Buffer.from(value, 'base64')
  if (key.length !== 32) throw new Error(`${name} decodes to ${key.length} bytes, not 32. ${ENCRYPTION_KEY_HELP}`)
  return key
}

/** CALLBACK_ENCRYPTION_KEY, and CALLBACK_ENCRYPTION_KEY_PREVIOUS while a rotation re-seals the values. */
export function parseEncryptionKey(value: string | undefined): Buffer
export function parseEncryptionKey(value: string | undefined, previous: string | undefined): SecretBoxKeys
export function parseEncryptionKey(value: string | undefined, previous?: string): SecretBoxKeys {
  if (!value) throw new Error(`CALLBACK_ENCRYPTION_KEY is not set. ${ENCRYPTION_KEY_HELP}`)
  return encryptionKeyRing(decodeKey('CALLBACK_ENCRYPTION_KEY', value), parsePreviousEncryptionKey(previous))
}

/** CALLBACK_ENCRYPTION_KEY_PREVIOUS by itself (a settings table reads each variable alone); undefined when unset. */
export function parsePreviousEncryptionKey(previous: string | undefined): Buffer | undefined {
  return previous ? decodeKey('CALLBACK_ENCRYPTION_KEY_PREVIOUS', previous) : undefined
}

/** The keys a secret box holds: the current one, and the previous one while a rotation runs. */
export function encryptionKeyRing(current: Buffer, previous: Buffer | undefined): SecretBoxKeys {
  // Equal keys mean no rotation is running: a secret store that must always hold the setting (Key
  // Vault through the CSI driver) keeps the current key there between rotations.
  return previous && !previous.equals(current) ? { current, previous } : current
}

interface DerivedKey { id: string; encryption: KeyObject; fingerprint: KeyObject }

function derive(key: Buffer): DerivedKey {
  if (key.length !== 32) throw new Error(ENCRYPTION_KEY_HELP)
  // Separate subkeys: the fingerprint key must not be the encryption key. KeyObjects made once:
  // a raw Buffer key is turned into one on every cipher or HMAC (~10 µs each).
  const subkey = (info: string, length = 32) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, length))
  return {
    id: subkey('arrivals/key-id/v1', 6).toString('base64url'),
    encryption: createSecretKey(subkey('arrivals/secret-box/v1')),
    fingerprint: createSecretKey(subkey('arrivals/fingerprint/v1')),
  }
}

function decrypt(key: DerivedKey, ivPart: string, bodyPart: string, associatedData: string): string {
  const body = Buffer.from(bodyPart, 'base64url')
  const decipher = createDecipheriv('aes-256-gcm', key.encryption, Buffer.from(ivPart, 'base64url'))
  decipher.setAAD(Buffer.from(associatedData))
  decipher.setAuthTag(body.subarray(body.length - 16))
  return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8')
}

export function createSecretBox(keys: SecretBoxKeys): SecretBox {
  const current = derive(Buffer.isBuffer(keys) ? keys : keys.current)
  const ring = Buffer.isBuffer(keys) ? [current] : [current, derive(keys.previous)]
  return {
    keyId: current.id,
    seal(plaintext, associatedData) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', current.encryption, iv)
      cipher.setAAD(Buffer.from(associatedData))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
      return `v2.${current.id}.${iv.toString('base64url')}.${body.toString('base64url')}`
    },
    open(sealed, associatedData) {
      const parts = sealed.split('.')
      if (parts[0] === 'v2' && parts.length === 4 && parts[2] && parts[3]) {
        const key = ring.find((candidate) => candidate.id === parts[1])
        if (!key) throw new Error(`sealed value has key id ${parts[1]}, which is neither CALLBACK_ENCRYPTION_KEY nor CALLBACK_ENCRYPTION_KEY_PREVIOUS`)
        return decrypt(key, parts[2], parts[3], associatedData)
      }
      if (parts[0] !== 'v1' || parts.length !== 3 || !parts[1] || !parts[2]) throw new Error('sealed value has an unknown format')
      let failure: unknown
      for (const key of ring) {
        try {
          return decrypt(key, parts[1], parts[2], associatedData)
        } catch (error) {
          failure = error
        }
      }
      throw failure
    },
    needsReseal(sealed) {
      return !sealed.startsWith(`v2.${current.id}.`)
    },
    fingerprint(input) {
      return createHmac('sha256', current.fingerprint).update(input).digest('base64url')
    },
    fingerprints(input) {
      return ring.map((key) => createHmac('sha256', key.fingerprint).update(input).digest('base64url'))
    },
  }
}

/** Scheme, host and path of a URL: never the query string (it carries the SAS signature). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
  } catch {
    return '[invalid url]'
  }
}
