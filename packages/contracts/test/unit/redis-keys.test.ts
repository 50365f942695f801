import { describe, expect, it } from 'vitest'
import { inventoryKeys, keyLayoutOf, redisKeys, tenantKey } from '../../src/index.js'

/** Redis Cluster's hash tag: the part between the first `{` and the next `}`, when not empty. */
function hashTag(key: string): string {
  const open = key.indexOf('{')
  const close = key.indexOf('}', open + 1)
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key
}

describe('tenantKey', () => {
  it('keeps every existing name on one Redis, so stored data needs no migration', () => {
    expect(tenantKey('arrivals', 'contoso', 'subscriptions')).toBe('arrivals:tenant:contoso:subscriptions')
    expect(inventoryKeys('arrivals').idempotency('contoso', 'k1')).toBe('arrivals:tenant:contoso:idempotency:k1')
    expect(redisKeys('arrivals').attempts('s1')).toBe('arrivals:attempts:s1')
  })

  it('tags every key of a tenant with namespace and tenant in the cluster layout, keeping the namespace prefix', () => {
    const keys = redisKeys('arrivals', 'cluster')
    const ofTenant = [keys.subscriptions('contoso'), keys.fingerprints('contoso'), keys.version('contoso'), keys.deadLetters('contoso'),
      keys.deadLettersByTime('contoso'), keys.stores('contoso'), keys.idempotency('contoso', 'k{1}')]
    for (const key of ofTenant) {
      expect(key.startsWith('arrivals:')).toBe(true)
      expect(hashTag(key)).toBe('arrivals:contoso')
    }
    expect(hashTag(keys.subscriptions('fabrikam'))).not.toBe(hashTag(keys.subscriptions('contoso')))
    expect(hashTag(redisKeys('other', 'cluster').subscriptions('contoso'))).toBe('other:contoso')
  })

  it('takes the layout from the client', () => {
    expect(keyLayoutOf({ isCluster: true })).toBe('cluster')
    expect(keyLayoutOf({ isCluster: false })).toBe('single')
  })
})
