import { telemetrySettingsTable } from './telemetry-settings.js'

/**
 * Reads environment settings and collects every problem before failing, so one start tells an
 * operator everything that is wrong.
 */
export class SettingsError extends Error {
  override readonly name = 'SettingsError'
  constructor(readonly problems: string[]) {
    super(`invalid settings:\n  - ${problems.join('\n  - ')}`)
  }
}

export type Env = Record<string, string | undefined>

/** A variable as the parsers see it: trimmed, and undefined when it is unset or blank. */
export type RawSetting = string | undefined

/**
 * How one variable becomes a value. `parse` throws an Error whose message says what to fix (a
 * SettingsError for several problems at once); `fallback` stands in after a problem, so the rules
 * after the table still run and every problem is reported in one go.
 */
export interface SettingParser<T> {
  parse(raw: RawSetting, name: string): T
  fallback: T
  /** The default as the README's settings table shows it. */
  shown: string
}

/** One row of a service's settings table: the variable, how it is read, and what it means. */
export interface Setting<T> extends SettingParser<T> {
  name: string
  description: string
  /** Its value never appears in a problem message (keys, passwords). */
  secret: boolean
}

// `any` so that a table of differently typed settings is one type; ValuesOf gives each its own back.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SettingsTable = Record<string, Setting<any>>
export type ValuesOf<T extends SettingsTable> = { -readonly [K in keyof T]: T[K] extends Setting<infer V> ? V : never }

export function setting<T>(name: string, parser: SettingParser<T>, description: string, options: { secret?: boolean } = {}): Setting<T> {
  return { ...parser, name, description, secret: options.secret ?? false }
}

const code = (value: string | number) => `\`${value}\``

/** A parser the service writes itself: `parse` gets the raw value and throws with what to fix. */
export function parsed<T>(parse: (raw: RawSetting, name: string) => T, fallback: T, shown: string): SettingParser<T> {
  return { parse, fallback, shown }
}

export function text(fallback: string): SettingParser<string> {
  return parsed((raw) => raw ?? fallback, fallback, code(fallback))
}

export function optionalText(shown = '(none)'): SettingParser<string | undefined> {
  return parsed((raw) => raw, undefined, shown)
}

/** Comma-separated entries, blanks dropped. */
export function list(shown = '(none)'): SettingParser<string[]> {
  return parsed((raw) => splitList(raw), [], shown)
}

export function splitList(raw: RawSetting): string[] {
  return (raw ?? '').split(',').map((entry) => entry.trim()).filter(Boolean)
}

export interface IntegerBounds { min?: number; max?: number }

function parseInteger(raw: string, name: string, { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER }: IntegerBounds): number {
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got "${raw}"`)
  return value
}

export function integer(fallback: number, bounds: IntegerBounds = {}): SettingParser<number> {
  return parsed((raw, name) => (raw === undefined ? fallback : parseInteger(raw, name, bounds)), fallback, code(fallback))
}

/** An integer whose default the service derives from other settings (after the table). */
export function optionalInteger(bounds: IntegerBounds, shown: string): SettingParser<number | undefined> {
  return parsed((raw, name) => (raw === undefined ? undefined : parseInteger(raw, name, bounds)), undefined, shown)
}

export function boolean(fallback: boolean): SettingParser<boolean> {
  return parsed((raw, name) => {
    const value = raw?.toLowerCase()
    if (value === undefined) return fallback
    if (['true', '1', 'yes'].includes(value)) return true
    if (['false', '0', 'no'].includes(value)) return false
    throw new Error(`${name} must be true or false, got "${value}"`)
  }, fallback, code(String(fallback)))
}

export function url(fallback: string, protocols: readonly string[]): SettingParser<string> {
  return parsed((raw, name) => {
    const value = raw ?? fallback
    if (!URL.canParse(value) || !protocols.includes(new URL(value).protocol)) {
      throw new Error(`${name} must be a ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL, got "${redactCredentials(value)}"`)
    }
    return value
  }, fallback, code(fallback))
}

/** One URL, or several separated by commas (the nodes of one cluster); each must have an allowed protocol. */
export function urlList(fallback: string, protocols: readonly string[]): SettingParser<string> {
  return parsed((raw, name) => {
    const value = raw ?? fallback
    const entries = splitList(value)
    const bad = entries.findIndex((entry) => !URL.canParse(entry) || !protocols.includes(new URL(entry).protocol))
    if (entries.length === 0 || bad >= 0) {
      const kinds = protocols.map((p) => p.replace(':', '')).join(' or ')
      throw new Error(`${name} must be a ${kinds} URL, or several separated by commas, got "${redactCredentials(value)}"`)
    }
    return entries.join(',')
  }, fallback, code(fallback))
}

export function oneOf<T extends string>(fallback: T, allowed: readonly T[]): SettingParser<T> {
  return parsed((raw, name) => {
    if (raw === undefined) return fallback
    if (!allowed.includes(raw as T)) throw new Error(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`)
    return raw as T
  }, fallback, code(fallback))
}

/**
 * Reads every variable of the table from `env`, then hands the values to `rules` (checks across
 * settings, and the shape the service keeps); throws one SettingsError listing every problem.
 */
export function readSettingsTable<T extends SettingsTable, S = ValuesOf<T>>(
  table: T,
  env: Env,
  rules: (values: ValuesOf<T>, problem: (message: string) => void) => S = (values) => values as unknown as S,
): S {
  const problems: string[] = []
  const values: Record<string, unknown> = {}
  for (const [field, row] of Object.entries(table)) {
    const given = env[row.name]?.trim()
    const raw = given === '' ? undefined : given
    try {
      values[field] = row.parse(raw, row.name)
    } catch (error) {
      values[field] = row.fallback
      const found = error instanceof SettingsError ? error.problems : [(error as Error).message]
      problems.push(...found.map((message) => (row.secret && raw ? message.split(raw).join('[redacted]') : message)))
    }
  }
  const settings = rules(values as ValuesOf<T>, (message) => problems.push(message))
  if (problems.length) throw new SettingsError(problems)
  return settings
}

/** The table as the README shows it under "## Settings": one row per variable, in table order. */
export function settingsMarkdown(table: SettingsTable): string {
  const rows = Object.values(table).map((row) => `| ${code(row.name)} | ${row.shown} | ${row.secret ? 'secret: ' : ''}${row.description} |`)
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n')
}

/** The settings table of a README (the table lines of its "## Settings" section), for a test to compare. */
export function readmeSettingsTable(readme: string): string {
  const start = readme.indexOf('\n## Settings')
  if (start < 0) return ''
  const end = readme.indexOf('\n## ', start + 1)
  return readme.slice(start, end < 0 ? undefined : end).split('\n').filter((line) => line.startsWith('|')).join('\n')
}

/** `amqp://user:pass@host` → `amqp://user:***@host`, for messages and logs; each entry of a comma list. */
export function redactCredentials(value: string): string {
  if (value.includes(',')) return value.split(',').map((entry) => redactCredentials(entry.trim())).join(',')
  try {
    const parsedUrl = new URL(value)
    if (parsedUrl.password) parsedUrl.password = '***'
    return parsedUrl.toString()
  } catch {
    return value.replace(/\/\/[^@/]*@/, '//***@')
  }
}

const namespace = parsed((raw, name) => {
  const value = raw ?? 'arrivals'
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(value)) throw new Error(`${name} must be lowercase letters, digits and "-" (at most 63), got "${value}"`)
  return value
}, 'arrivals', code('arrivals'))

/** REDIS_CLUSTER_NODES: `host:port` seed nodes of a Redis Cluster, separated by commas; unset, one Redis. */
const redisClusterNodes = parsed((raw, name) => {
  if (raw === undefined || raw.trim() === '') return []
  return raw.split(',').map((entry) => entry.trim()).filter((entry) => entry.length > 0).map((entry, index, all) => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry)
    const port = Number(match?.[2])
    if (!match || port < 1 || port > 65_535) throw new Error(`${name} entry ${index + 1} of ${all.length} must be host:port, e.g. redis-0:6379`)
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
  })
}, [] as Array<{ host: string; port: number }>, '(one Redis at `REDIS_URL`)')

/** AMQP_URL, REDIS_URL, REDIS_CLUSTER_NODES, NAMESPACE, PORT, HOST, LOG_LEVEL, then the OpenTelemetry ones: the rows every service's table starts with. */
export function commonSettingsTable(defaults: { port: number; listensFor: string }) {
  return {
    amqpUrl: setting('AMQP_URL', urlList('amqp://guest:guest@localhost:5672', ['amqp:', 'amqps:']), 'RabbitMQ: one URL, or the nodes of one cluster separated by commas'),
    redisUrl: setting('REDIS_URL', url('redis://localhost:6379', ['redis:', 'rediss:']), 'Redis (a managed one\'s access key percent-encoded)'),
    redisClusterNodes: setting('REDIS_CLUSTER_NODES', redisClusterNodes,
      'a Redis Cluster\'s nodes as `host:port`, separated by commas (some suffice: the rest are discovered); credentials and TLS still from `REDIS_URL`'),
    namespace: setting('NAMESPACE', namespace, 'prefix of every exchange, queue and Redis key'),
    port: setting('PORT', integer(defaults.port, { min: 0, max: 65_535 }), `where ${defaults.listensFor} listen (0: any free port)`),
    host: setting('HOST', text('0.0.0.0'), 'the address to listen on'),
    logLevel: setting('LOG_LEVEL', oneOf('info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
      'pino level: `fatal` … `trace`, `silent`'),
    ...telemetrySettingsTable(),
  }
}

/** The settings every service has, with their types. */
export type CommonSettings = ValuesOf<ReturnType<typeof commonSettingsTable>>

/**
 * `AUTH_FAILURES_PER_MINUTE`, for every service with an API: how many failed authentications one
 * client address may make per minute (per replica) before it gets 429s. Thirty leaves room for a
 * person mistyping a key and a misconfigured client noticing, not for guessing keys.
 */
export const authFailuresPerMinute = setting('AUTH_FAILURES_PER_MINUTE', integer(30, { min: 0, max: 1_000_000 }),
  'failed authentications per client address per minute (per replica) before `429`; `0` turns the throttle off')
