import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, randomBytes } from 'node:crypto'

/**
 * Seals secrets at rest (callback URLs, signing secrets) with AES-256-GCM. The associated data binds
 * a sealed value to its record (tenant and subscription id), so a ciphertext copied onto another
 * record does not open. Format: `v1.<iv>.<ciphertext+tag>`, base64url.
 */
export interface SecretBox {
  seal(plaintext: string, associatedData: string): string
  open(sealed: string, associatedData: string): string
  /** A keyed, non-reversible fingerprint: equal inputs give equal fingerprints under one key. */
  fingerprint(input: string): string
}

export const ENCRYPTION_KEY_HELP =
  'CALLBACK_ENCRYPTION_KEY must be the base64 of 32 random bytes; make one with: ' +
  'node -e "console.log(require(\'node:crypto\').randomBytes(32).toString(\'base64\'))"'

export function parseEncryptionKey(value: string | undefined): Buffer {
  if (!value) throw new Error(`CALLBACK_ENCRYPTION_KEY is not set. ${ENCRYPTION_KEY_HELP}`)
  const key = Buffer.from(value, 'base64')
  if (key.length !== 32) throw new Error(`CALLBACK_ENCRYPTION_KEY decodes to ${key.length} bytes, not 32. ${ENCRYPTION_KEY_HELP}`)
  return key
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error(ENCRYPTION_KEY_HELP)
  // Separate subkeys: the fingerprint key must not be the encryption key. KeyObjects made once:
  // a raw Buffer key is turned into one on every cipher or HMAC (~10 µs each).
  const encryptionKey = createSecretKey(Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'arrivals/secret-box/v1', 32)))
  const fingerprintKey = createSecretKey(Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'arrivals/fingerprint/v1', 32)))
  return {
    seal(plaintext, associatedData) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv)
      cipher.setAAD(Buffer.from(associatedData))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
      return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`
    },
    open(sealed, associatedData) {
      const [version, ivPart, bodyPart] = sealed.split('.')
      if (version !== 'v1' || !ivPart || !bodyPart) throw new Error('sealed value has an unknown format')
      const body = Buffer.from(bodyPart, 'base64url')
      const decipher = createDecipheriv('aes-256-gcm', encryptionKey, Buffer.from(ivPart, 'base64url'))
      decipher.setAAD(Buffer.from(associatedData))
      decipher.setAuthTag(body.subarray(body.length - 16))
      return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8')
    },
    fingerprint(input) {
      return createHmac('sha256', fingerprintKey).update(input).digest('base64url')
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
