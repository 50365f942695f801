import { describe, expect, it } from 'vitest'
import { inventoryKeys, keyLayoutOf, tenantKey } from '../../src/index.js'

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
  })

  it('tags every key of a tenant with namespace and tenant in the cluster layout, keeping the namespace prefix', () => {
    const keys = inventoryKeys('arrivals', 'cluster')
    const ofTenant = [tenantKey('arrivals', 'contoso', 'subscriptions', 'cluster'), keys.stores('contoso'), keys.idempotency('contoso', 'k{1}')]
    for (const key of ofTenant) {
      expect(key.startsWith('arrivals:')).toBe(true)
      expect(hashTag(key)).toBe('arrivals:contoso')
    }
    expect(hashTag(keys.stores('fabrikam'))).not.toBe(hashTag(keys.stores('contoso')))
    expect(hashTag(inventoryKeys('other', 'cluster').stores('contoso'))).toBe('other:contoso')
  })

  it('takes the layout from the client', () => {
    expect(keyLayoutOf({ isCluster: true })).toBe('cluster')
    expect(keyLayoutOf({ isCluster: false })).toBe('single')
  })
})
