import { createCipheriv, createSecretKey, hkdfSync, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createSecretBox, parseEncryptionKey } from '../../src/secret-box.js'

/** A value sealed as the secret box did before key ids (`v1.<iv>.<ciphertext+tag>`), byte for byte. */
function sealWithoutKeyId(key: Buffer, plaintext: string, associatedData: string): string {
  const encryptionKey = createSecretKey(Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'arrivals/secret-box/v1', 32)))
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv)
  cipher.setAAD(Buffer.from(associatedData))
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
  return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`
}

const callback = 'https://prod-01.westeurope.logic.azure.com/workflows/1?sig=SECRET'

describe('secret box key ids', () => {
  it('seals with the current key id, and opens only with the record it is bound to', () => {
    const box = createSecretBox(randomBytes(32))
    const sealed = box.seal(callback, 'contoso/sub_1')
    expect(sealed.split('.').slice(0, 2)).toEqual(['v2', box.keyId])
    expect(box.keyId).toMatch(/^[\w-]{8}$/)
    expect(sealed).not.toContain('SECRET')
    expect(box.open(sealed, 'contoso/sub_1')).toBe(callback)
    expect(() => box.open(sealed, 'fabrikam/sub_1')).toThrow()
    expect(box.needsReseal(sealed)).toBe(false)
  })

  it('opens values sealed before key ids, with the current key or the previous one', () => {
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)]
    const legacy = sealWithoutKeyId(oldKey, callback, 'contoso/sub_1')
    expect(createSecretBox(oldKey).open(legacy, 'contoso/sub_1')).toBe(callback)
    const rotating = createSecretBox({ current: newKey, previous: oldKey })
    expect(rotating.open(legacy, 'contoso/sub_1')).toBe(callback)
    expect(rotating.needsReseal(legacy)).toBe(true)
    expect(() => createSecretBox(newKey).open(legacy, 'contoso/sub_1')).toThrow()
    expect(() => rotating.open(legacy, 'fabrikam/sub_1')).toThrow()
  })

  it('during a rotation seals with the new key, opens both, and says which values to re-seal', () => {
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)]
    const before = createSecretBox(oldKey).seal(callback, 'contoso/sub_1')
    const rotating = createSecretBox({ current: newKey, previous: oldKey })
    expect(rotating.keyId).toBe(createSecretBox(newKey).keyId)
    expect(rotating.keyId).not.toBe(createSecretBox(oldKey).keyId)
    expect(rotating.open(before, 'contoso/sub_1')).toBe(callback)
    expect(rotating.needsReseal(before)).toBe(true)
    const resealed = rotating.seal(rotating.open(before, 'contoso/sub_1'), 'contoso/sub_1')
    expect(rotating.needsReseal(resealed)).toBe(false)
    // Once the previous key is removed, only re-sealed values open; the error names the settings.
    const after = createSecretBox(newKey)
    expect(after.open(resealed, 'contoso/sub_1')).toBe(callback)
    expect(() => after.open(before, 'contoso/sub_1')).toThrow(/key id .* neither CALLBACK_ENCRYPTION_KEY nor CALLBACK_ENCRYPTION_KEY_PREVIOUS/)
  })

  it('gives the fingerprint under each key, the current one first, so lookups find records indexed before the rotation', () => {
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)]
    const rotating = createSecretBox({ current: newKey, previous: oldKey })
    const input = 'contoso\u0000https://flow.example.com/hook'
    expect(rotating.fingerprints(input)).toEqual([createSecretBox(newKey).fingerprint(input), createSecretBox(oldKey).fingerprint(input)])
    expect(rotating.fingerprint(input)).toBe(createSecretBox(newKey).fingerprint(input))
  })

  it('refuses an unknown format', () => {
    const box = createSecretBox(randomBytes(32))
    for (const sealed of ['v3.a.b.c', 'v2.only', 'plain text', 'v1.a']) expect(() => box.open(sealed, 'x'), sealed).toThrow('unknown format')
  })
})

describe('parseEncryptionKey', () => {
  const key = randomBytes(32).toString('base64')
  const previous = randomBytes(32).toString('base64')

  it('returns the key alone without a previous key, both during a rotation', () => {
    expect(parseEncryptionKey(key)).toEqual(Buffer.from(key, 'base64'))
    expect(parseEncryptionKey(key, undefined)).toEqual(Buffer.from(key, 'base64'))
    expect(parseEncryptionKey(key, previous)).toEqual({ current: Buffer.from(key, 'base64'), previous: Buffer.from(previous, 'base64') })
  })

  it('takes a previous key equal to the current one as no rotation (Key Vault keeps the setting between rotations)', () => {
    expect(parseEncryptionKey(key, key)).toEqual(Buffer.from(key, 'base64'))
  })

  it('names the setting that is wrong', () => {
    expect(() => parseEncryptionKey(undefined)).toThrow('CALLBACK_ENCRYPTION_KEY is not set')
    expect(() => parseEncryptionKey(undefined, previous)).toThrow('CALLBACK_ENCRYPTION_KEY is not set')
    expect(() => parseEncryptionKey(key, 'c2hvcnQ=')).toThrow('CALLBACK_ENCRYPTION_KEY_PREVIOUS decodes to 5 bytes')
  })
})
