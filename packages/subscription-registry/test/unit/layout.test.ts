import { describe, expect, it } from 'vitest'
import { registryKeys } from '../../src/layout.js'

const tagOf = (key: string) => /\{([^}]+)\}/.exec(key)?.[1]

describe('registryKeys', () => {
  it('names the keys as they always were on one Redis', () => {
    const keys = registryKeys('arrivals')
    expect(keys.subscriptions('contoso')).toBe('arrivals:tenant:contoso:subscriptions')
    expect(keys.attempts('contoso', 's1')).toBe('arrivals:attempts:s1')
    expect(keys.failures('contoso', 's1')).toBe('arrivals:failures:s1')
  })

  it('puts a subscription\'s attempts and failure streak in its tenant\'s slot on a cluster, as the removal script needs', () => {
    const keys = registryKeys('arrivals', 'cluster')
    const removal = [keys.subscriptions('contoso'), keys.fingerprints('contoso'), keys.version('contoso'), keys.attempts('contoso', 's1'), keys.failures('contoso', 's1'),
      keys.storeIndex('contoso', 'inventory.goods-received.v1', 'store-1'), keys.storeIndex('contoso', 'inventory.goods-received.v1', undefined), keys.indexed('contoso')]
    expect(new Set(removal.map(tagOf))).toEqual(new Set(['arrivals:contoso']))
    // The scripts build an index key from the prefix and the record: the same key, so the same slot.
    expect(keys.storeIndex('contoso', 'inventory.goods-received.v1', 'store-1')).toBe(`${keys.storeIndexPrefix('contoso')}inventory.goods-received.v1:store-1`)
    expect(keys.attempts('contoso', 's1')).not.toBe(keys.failures('contoso', 's1'))
    // Not per tenant: a channel (PUBLISH reaches every node) and one list for the whole deployment.
    expect(tagOf(keys.subscriptionsChanged)).toBeUndefined()
    expect(tagOf(keys.pipelineDeadLetters)).toBeUndefined()
  })
})
