import { describe } from 'vitest'
import { createMemoryRegistry } from '../../src/memory.js'
import { registryContract } from '../contract.js'

describe('the registry in memory', () => {
  const registry = createMemoryRegistry()
  registryContract(() => registry)
})
