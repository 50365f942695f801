import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createSecretBox, GOODS_RECEIVED, sealingContext, STOCK_ADJUSTED } from '@arrivals/contracts'
import { newSubscriptionRecord, subscriptionFingerprint } from '../../src/records.js'

const box = createSecretBox(randomBytes(32))

describe('subscription records', () => {
  it('fingerprints the same flow alike however its URL and filters are spelled, and other tenants or filters apart', () => {
    const one = subscriptionFingerprint(box, 'contoso', 'https://Flows.Example:443/a/../hook?sig=1', { sku: 'A', storeId: 's1' })
    expect(subscriptionFingerprint(box, 'contoso', 'https://flows.example/hook?sig=1', { storeId: 's1', sku: 'A', minQuantity: undefined })).toBe(one)
    expect(subscriptionFingerprint(box, 'fabrikam', 'https://flows.example/hook?sig=1', { storeId: 's1', sku: 'A' })).not.toBe(one)
    expect(subscriptionFingerprint(box, 'contoso', 'https://flows.example/hook?sig=1', { storeId: 's1' })).not.toBe(one)
  })

  it('fingerprints each event type apart, goods received as it was before event types existed', () => {
    const url = 'https://flows.example/hook?sig=1'
    const before = box.fingerprint(`contoso\u0000${url}\u0000${JSON.stringify({ storeId: 's1' })}`)
    expect(subscriptionFingerprint(box, 'contoso', url, { storeId: 's1' }, GOODS_RECEIVED)).toBe(before)
    expect(subscriptionFingerprint(box, 'contoso', url, { storeId: 's1' }, STOCK_ADJUSTED)).not.toBe(before)
    expect(subscriptionFingerprint(box, 'contoso', url, { storeId: 's1', reason: 'damaged' }, STOCK_ADJUSTED))
      .not.toBe(subscriptionFingerprint(box, 'contoso', url, { storeId: 's1' }, STOCK_ADJUSTED))
    const { record } = newSubscriptionRecord(box, { tenantId: 'contoso', callbackUrl: url, filters: { reason: 'theft' }, flow: {}, eventType: STOCK_ADJUSTED })
    expect(record).toMatchObject({ eventType: STOCK_ADJUSTED, filters: { reason: 'theft' } })
    expect(record.fingerprint).toBe(subscriptionFingerprint(box, 'contoso', url, { reason: 'theft' }, STOCK_ADJUSTED))
  })

  it('seals the callback and the secret to the record, redacts the callback, and keeps given ids and secrets', () => {
    const { record, secret } = newSubscriptionRecord(box, {
      tenantId: 'contoso', callbackUrl: 'https://flows.example/hook?sig=secret', filters: { storeId: 's1' }, flow: { platform: 'api' },
      id: 'sub_seeded', secret: 'whsec_c2VlZGVk',
    })
    expect(record).toMatchObject({ id: 'sub_seeded', status: 'active', callbackRedacted: 'https://flows.example/hook', filters: { storeId: 's1' } })
    expect(secret).toBe('whsec_c2VlZGVk')
    expect(JSON.stringify(record)).not.toContain('sig=secret')
    expect(box.open(record.callbackSealed, sealingContext.callback('contoso', 'sub_seeded'))).toBe('https://flows.example/hook?sig=secret')
    expect(box.open(record.secretSealed, sealingContext.secret('contoso', 'sub_seeded'))).toBe(secret)
    const fresh = newSubscriptionRecord(box, { tenantId: 'contoso', callbackUrl: 'https://flows.example/hook', filters: {}, flow: {} })
    expect(fresh.record.id).toMatch(/^sub_[A-Za-z0-9_-]{22}$/)
    expect(fresh.secret).toMatch(/^whsec_/)
  })
})
