import { describe, expect, it } from 'vitest'
import {
  commonSettingsTable, integer, list, optionalInteger, parsed, readmeSettingsTable, readSettingsTable, setting, settingsMarkdown,
  SettingsError, text,
} from '../../src/index.js'

function problemsOf(read: () => unknown): string[] {
  try {
    read()
  } catch (error) {
    if (error instanceof SettingsError) return error.problems
    throw error
  }
  return []
}

describe('readSettingsTable', () => {
  const table = {
    ...commonSettingsTable({ port: 3009, listensFor: 'the test' }),
    name: setting('NAME', text('anonymous'), 'who'),
    limit: setting('LIMIT', integer(10, { min: 1, max: 100 }), 'how many'),
    slots: setting('SLOTS', optionalInteger({ min: 1, max: 100 }, 'half of `LIMIT`'), 'derived when unset'),
    hosts: setting('HOSTS', list(), 'where'),
    token: setting('TOKEN', parsed((raw) => {
      if (raw !== undefined && raw.length < 8) throw new Error(`TOKEN "${raw}" is shorter than 8 characters`)
      return raw
    }, undefined as string | undefined, '(none)'), 'a secret', { secret: true }),
  }

  it('reads REDIS_CLUSTER_NODES as host:port seeds, and names the entry that is not one', () => {
    expect(readSettingsTable(table, { REDIS_CLUSTER_NODES: 'redis-0:6379, 10.0.0.7:7001,[::1]:7002' }).redisClusterNodes).toEqual([
      { host: 'redis-0', port: 6379 }, { host: '10.0.0.7', port: 7001 }, { host: '::1', port: 7002 },
    ])
    expect(readSettingsTable(table, { REDIS_CLUSTER_NODES: ' ' }).redisClusterNodes).toEqual([])
    expect(problemsOf(() => readSettingsTable(table, { REDIS_CLUSTER_NODES: 'redis-0:6379,redis://redis-1:6379' })))
      .toEqual([expect.stringContaining('REDIS_CLUSTER_NODES entry 2 of 2 must be host:port')])
    expect(problemsOf(() => readSettingsTable(table, { REDIS_CLUSTER_NODES: 'redis-0:70000' }))).toHaveLength(1)
  })

  it('gives each field its default when the variable is unset or blank, and the parsed value otherwise', () => {
    const settings = readSettingsTable(table, { NAME: '  contoso  ', LIMIT: ' ', HOSTS: 'a, ,b' })
    expect(settings).toEqual({
      amqpUrl: 'amqp://guest:guest@localhost:5672', redisUrl: 'redis://localhost:6379', redisClusterNodes: [], namespace: 'arrivals', port: 3009,
      host: '0.0.0.0', logLevel: 'info', name: 'contoso', limit: 10, slots: undefined, hosts: ['a', 'b'], token: undefined,
      otlpEndpoint: undefined, otlpProtocol: 'http/protobuf', otlpScheduleDelayMs: 5_000,
    })
  })

  it('reports every problem at once, and the rules after the table still run on the fallbacks', () => {
    let seenLimit: number | undefined
    const problems = problemsOf(() => readSettingsTable(table, { LIMIT: '1000', NAMESPACE: 'Bad_NS', PORT: '-1' }, (values, problem) => {
      seenLimit = values.limit
      problem('a rule across settings')
      return values
    }))
    expect(problems).toEqual([
      'NAMESPACE must be lowercase letters, digits and "-" (at most 63), got "Bad_NS"',
      'PORT must be an integer from 0 to 65535, got "-1"',
      'LIMIT must be an integer from 1 to 100, got "1000"',
      'a rule across settings',
    ])
    expect(seenLimit).toBe(10)
  })

  it('lets the rules derive a default from other settings', () => {
    const derived = readSettingsTable(table, { LIMIT: '40' }, (values) => ({ ...values, slots: values.slots ?? values.limit / 2 }))
    expect(derived.slots).toBe(20)
  })

  it('takes several problems from one parser (a SettingsError)', () => {
    const hosts = setting('HOSTS', parsed((raw) => {
      throw new SettingsError((raw ?? '').split(',').map((host) => `HOSTS entry "${host}" is not a host`))
    }, [] as string[], '(none)'), 'where')
    expect(problemsOf(() => readSettingsTable({ hosts }, { HOSTS: 'a b,c d' }))).toEqual(['HOSTS entry "a b" is not a host', 'HOSTS entry "c d" is not a host'])
  })

  it('never repeats a secret setting\'s value in a problem', () => {
    const problems = problemsOf(() => readSettingsTable(table, { TOKEN: 'hunter2' }))
    expect(problems).toEqual(['TOKEN "[redacted]" is shorter than 8 characters'])
  })

  it('never shows a URL\'s password', () => {
    const problems = problemsOf(() => readSettingsTable(table, { AMQP_URL: 'http://user:s3cret-pass@rabbit' }))
    expect(problems[0]).toMatch(/AMQP_URL must be a amqp or amqps URL/)
    expect(problems[0]).not.toContain('s3cret-pass')
  })

  it('takes AMQP_URL as the nodes of one cluster separated by commas, and hides every node\'s password', () => {
    const nodes = 'amqp://user:first-pass@rabbit-0:5672, amqp://user:second-pass@rabbit-1:5672'
    expect(readSettingsTable(table, { AMQP_URL: nodes }).amqpUrl).toBe('amqp://user:first-pass@rabbit-0:5672,amqp://user:second-pass@rabbit-1:5672')
    const problems = problemsOf(() => readSettingsTable(table, { AMQP_URL: 'amqp://user:first-pass@rabbit-0,http://user:second-pass@rabbit-1' }))
    expect(problems[0]).toMatch(/AMQP_URL must be a amqp or amqps URL, or several separated by commas/)
    expect(problems[0]).not.toMatch(/first-pass|second-pass/)
  })
})

describe('the README settings table', () => {
  const table = {
    port: setting('PORT', integer(3001), 'where to listen'),
    key: setting('API_KEY', parsed((raw) => raw, undefined as string | undefined, '(required)'), 'the key', { secret: true }),
    slots: setting('SLOTS', optionalInteger({ min: 1 }, 'half of `LIMIT`'), 'derived'),
  }

  it('is rendered from the settings table, one row per variable, secrets marked', () => {
    expect(settingsMarkdown(table)).toBe([
      '| variable | default | meaning |',
      '|---|---|---|',
      '| `PORT` | `3001` | where to listen |',
      '| `API_KEY` | (required) | secret: the key |',
      '| `SLOTS` | half of `LIMIT` | derived |',
    ].join('\n'))
  })

  it('is found under "## Settings" and nowhere else', () => {
    const readme = `# svc\n\n| other | table |\n\n## Settings\n\n${settingsMarkdown(table)}\n\nA wrong setting exits 1.\n\n## Metrics\n\n| not | this |\n`
    expect(readmeSettingsTable(readme)).toBe(settingsMarkdown(table))
    expect(readmeSettingsTable('# svc\n')).toBe('')
  })
})
