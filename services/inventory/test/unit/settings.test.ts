import { readFileSync } from 'node:fs'
import { readmeSettingsTable, settingsMarkdown } from '@arrivals/service-kit'
import { describe, expect, it } from 'vitest'
import { inventorySettingsTable, readSettings } from '../../src/settings.js'

describe('README, "## Settings"', () => {
  it('is the settings table of settings.ts, row for row (on a difference, paste the expected table)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    expect(readmeSettingsTable(readme)).toBe(settingsMarkdown(inventorySettingsTable))
  })
})

describe('readSettings', () => {
  it('keeps EVENT_SOURCE to a URI-reference\'s length', () => {
    expect(() => readSettings({ API_KEYS: 'contoso:0123456789abcdef', EVENT_SOURCE: `urn:${'x'.repeat(300)}` }))
      .toThrow(/EVENT_SOURCE must be at most 256 characters/)
    expect(readSettings({ API_KEYS: 'contoso:0123456789abcdef' }).eventSource).toBe('urn:arrivals:inventory')
  })
})
