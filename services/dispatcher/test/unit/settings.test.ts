import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readmeSettingsTable, settingsMarkdown, type SettingsError } from '@arrivals/service-kit'
import { describe, expect, it } from 'vitest'
import { dispatcherSettingsTable, readSettings } from '../../src/settings.js'

describe('README, "## Settings"', () => {
  it('is the settings table of settings.ts, row for row (on a difference, paste the expected table)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    expect(readmeSettingsTable(readme)).toBe(settingsMarkdown(dispatcherSettingsTable))
  })
})

describe('readSettings', () => {
  const key = randomBytes(32).toString('base64')

  it('derives ENDPOINT_CONCURRENCY from the smaller of concurrency and prefetch, and names the replica after HOSTNAME', () => {
    expect(readSettings({ CALLBACK_ENCRYPTION_KEY: key })).toMatchObject({ endpointConcurrency: 32, deliveryPrefetch: 64, replicaName: undefined })
    expect(readSettings({ CALLBACK_ENCRYPTION_KEY: key, DELIVERY_CONCURRENCY: '10', HOSTNAME: 'dispatcher-7f9c' }))
      .toMatchObject({ endpointConcurrency: 5, replicaName: 'dispatcher-7f9c' })
  })

  it('reports the encryption key, the retry schedule and the cross-field rule in one go', () => {
    let problems: string[] = []
    try {
      readSettings({ CALLBACK_ENCRYPTION_KEY: 'too-short', RETRY_SCHEDULE: '5s,soon', DELIVERY_PREFETCH: '8', ENDPOINT_CONCURRENCY: '8' })
    } catch (error) {
      problems = (error as SettingsError).problems
    }
    expect(problems).toHaveLength(3)
    expect(problems.join('\n')).toMatch(/CALLBACK_ENCRYPTION_KEY[\s\S]*RETRY_SCHEDULE entry 2 \("soon"\)[\s\S]*ENDPOINT_CONCURRENCY \(8\) must be below DELIVERY_PREFETCH \(8\)/)
    expect(problems.join('\n')).not.toContain('too-short')
  })

  it('reads FLOW_RATE_LIMIT (4500/5m when unset) and refuses one it cannot read with what to write', () => {
    expect(readSettings({ CALLBACK_ENCRYPTION_KEY: key }).flowRateLimit).toEqual({ count: 4500, windowMs: 300_000 })
    expect(readSettings({ CALLBACK_ENCRYPTION_KEY: key, FLOW_RATE_LIMIT: '40/10s' }).flowRateLimit).toEqual({ count: 40, windowMs: 10_000 })
    expect(() => readSettings({ CALLBACK_ENCRYPTION_KEY: key, FLOW_RATE_LIMIT: '4500 per 5 minutes' }))
      .toThrow(/FLOW_RATE_LIMIT "4500 per 5 minutes" must be <count>\/<duration> with a unit ms, s, m or h/)
  })
})
