/**
 * Reads environment settings and collects every problem before failing, so one start tells an
 * operator everything that is wrong. Each service calls this from its own `settings.ts` only.
 */
export class SettingsError extends Error {
  override readonly name = 'SettingsError'
  constructor(readonly problems: string[]) {
    super(`invalid settings:\n  - ${problems.join('\n  - ')}`)
  }
}

export type Env = Record<string, string | undefined>

export function settingsReader(env: Env) {
  const problems: string[] = []
  const raw = (name: string) => {
    const value = env[name]
    return value === undefined || value.trim() === '' ? undefined : value.trim()
  }
  return {
    problems,
    string(name: string, fallback: string): string {
      return raw(name) ?? fallback
    },
    optional(name: string): string | undefined {
      return raw(name)
    },
    integer(name: string, fallback: number, bounds: { min?: number; max?: number } = {}): number {
      const value = raw(name)
      if (value === undefined) return fallback
      const parsed = Number(value)
      const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds
      if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
        problems.push(`${name} must be an integer from ${min} to ${max}, got "${value}"`)
        return fallback
      }
      return parsed
    },
    boolean(name: string, fallback: boolean): boolean {
      const value = raw(name)?.toLowerCase()
      if (value === undefined) return fallback
      if (['true', '1', 'yes'].includes(value)) return true
      if (['false', '0', 'no'].includes(value)) return false
      problems.push(`${name} must be true or false, got "${value}"`)
      return fallback
    },
    url(name: string, fallback: string, protocols: readonly string[]): string {
      const value = raw(name) ?? fallback
      if (!URL.canParse(value) || !protocols.includes(new URL(value).protocol)) {
        problems.push(`${name} must be a ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL, got "${redactCredentials(value)}"`)
      }
      return value
    },
    oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
      const value = raw(name)
      if (value === undefined) return fallback
      if (!allowed.includes(value as T)) {
        problems.push(`${name} must be one of ${allowed.join(', ')}, got "${value}"`)
        return fallback
      }
      return value as T
    },
    /** Records a problem found by the caller's own parsing. */
    problem(message: string): void {
      problems.push(message)
    },
    /** Throws a SettingsError listing every problem, if there was any. */
    done(): void {
      if (problems.length) throw new SettingsError(problems)
    },
  }
}

/** `amqp://user:pass@host` → `amqp://user:***@host`, for messages and logs. */
export function redactCredentials(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}

/** Settings every service reads. */
export function commonSettings(env: Env, defaults: { port: number }) {
  const read = settingsReader(env)
  const common = {
    amqpUrl: read.url('AMQP_URL', 'amqp://guest:guest@localhost:5672', ['amqp:', 'amqps:']),
    redisUrl: read.url('REDIS_URL', 'redis://localhost:6379', ['redis:', 'rediss:']),
    namespace: read.string('NAMESPACE', 'arrivals'),
    port: read.integer('PORT', defaults.port, { min: 0, max: 65_535 }),
    host: read.string('HOST', '0.0.0.0'),
    logLevel: read.oneOf('LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
  }
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(common.namespace)) {
    read.problem(`NAMESPACE must be lowercase letters, digits and "-" (at most 63), got "${common.namespace}"`)
  }
  return { read, common }
}
