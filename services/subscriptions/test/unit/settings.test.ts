import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readmeSettingsTable, settingsMarkdown, type SettingsError } from '@arrivals/service-kit'
import { describe, expect, it } from 'vitest'
import { readSettings, subscriptionsSettingsTable } from '../../src/settings.js'

describe('README, "## Settings"', () => {
  it('is the settings table of settings.ts, row for row (on a difference, paste the expected table)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    expect(readmeSettingsTable(readme)).toBe(settingsMarkdown(subscriptionsSettingsTable))
  })
})

describe('readSettings', () => {
  it('names each bad CALLBACK_ALLOWED_HOSTS entry, and keeps the Entra ID rules after the table', () => {
    let problems: string[] = []
    try {
      readSettings({ CALLBACK_ENCRYPTION_KEY: randomBytes(32).toString('base64'), CALLBACK_ALLOWED_HOSTS: 'ok.example.com, bad host, http://x', ENTRA_AUDIENCE: 'api://arrivals' })
    } catch (error) {
      problems = (error as SettingsError).problems
    }
    expect(problems).toEqual([
      'CALLBACK_ALLOWED_HOSTS entry "bad host" must be a host name or *.domain pattern',
      'CALLBACK_ALLOWED_HOSTS entry "http://x" must be a host name or *.domain pattern',
      'ENTRA_ISSUER (or ENTRA_TENANT_ID) must be set when Entra ID tokens are enabled',
      'ENTRA_JWKS_URL (or ENTRA_TENANT_ID) must be an http(s) URL of the signing keys, got ""',
      'no way to authenticate: set API_KEYS (tenantId:key pairs, keys of 16 characters or more) and/or ENTRA_TENANT_ID + ENTRA_AUDIENCE',
    ])
  })

  it('reads TRUST_PROXY as a flag or a list of proxies', () => {
    const base = { CALLBACK_ENCRYPTION_KEY: randomBytes(32).toString('base64'), API_KEYS: 'contoso:0123456789abcdef' }
    expect(readSettings(base).trustProxy).toBe(false)
    expect(readSettings({ ...base, TRUST_PROXY: 'yes' }).trustProxy).toBe(true)
    expect(readSettings({ ...base, TRUST_PROXY: '10.0.0.1, 10.0.0.2' }).trustProxy).toEqual(['10.0.0.1', '10.0.0.2'])
  })

  it('reads roles from API_KEYS and the quotas with their stated defaults', () => {
    const base = { CALLBACK_ENCRYPTION_KEY: randomBytes(32).toString('base64'), API_KEYS: 'contoso:maker-key-0123456789,contoso:operator-key-0123456789:operator' }
    const settings = readSettings(base)
    expect([...settings.apiKeys.values()]).toEqual([{ tenantId: 'contoso', role: 'maker' }, { tenantId: 'contoso', role: 'operator' }])
    expect(settings).toMatchObject({ quotaSubscriptions: 10_000, quotaSubscriptionsPerStore: 100, authFailuresPerMinute: 30 })
    expect(readSettings({ ...base, QUOTA_SUBSCRIPTIONS: '50', QUOTA_SUBSCRIPTIONS_PER_STORE: '5', AUTH_FAILURES_PER_MINUTE: '0' }))
      .toMatchObject({ quotaSubscriptions: 50, quotaSubscriptionsPerStore: 5, authFailuresPerMinute: 0 })
    expect(() => readSettings({ ...base, QUOTA_SUBSCRIPTIONS: '0' })).toThrow(/QUOTA_SUBSCRIPTIONS/)
  })
})
