import { describe, expect, it, vi } from 'vitest'
import { SettingsError, startService } from '../../src/index.js'

describe('startService', () => {
  it('tells every settings problem, prefixed with the service, and builds nothing', async () => {
    const buildApp = vi.fn()
    const fail = vi.fn((message: string): never => {
      throw new Error(`exit 1: ${message}`)
    })
    const readSettings = () => {
      throw new SettingsError(['PORT must be an integer from 0 to 65535, got "eighty"', 'API_KEYS must list at least one tenantId:key pair'])
    }
    await expect(startService({ service: 'inventory', env: { PORT: 'eighty' }, readSettings, buildApp, fail }))
      .rejects.toThrow('exit 1: inventory: invalid settings:\n  - PORT must be an integer from 0 to 65535, got "eighty"\n  - API_KEYS must list at least one tenantId:key pair')
    expect(buildApp).not.toHaveBeenCalled()
  })

  it('passes the environment it was given to readSettings', async () => {
    const env = { PORT: '1' }
    const readSettings = vi.fn(() => {
      throw new Error('unexpected')
    })
    const fail = vi.fn((message: string): never => {
      throw new Error(message)
    })
    await expect(startService({ service: 'dispatcher', env, readSettings, buildApp: vi.fn(), fail })).rejects.toThrow('dispatcher: Error: unexpected')
    expect(readSettings).toHaveBeenCalledWith(env)
  })
})
