import { commonSettings, parseApiKeys, type Env } from '@arrivals/service-kit'

/** AMQP_URL, REDIS_URL, NAMESPACE, PORT, HOST, LOG_LEVEL: read alike by every service. */
type CommonSettings = ReturnType<typeof commonSettings>['common']

export interface InventorySettings extends CommonSettings {
  /** SHA-256 of each bootstrap API key → the tenant it names. */
  apiKeys: Map<string, string>
  /** How long a receipt waits for the broker's confirm before it is answered with 503 (≤ 10 s). */
  confirmTimeoutMs: number
  /** Requests per minute per API key (per replica). */
  rateLimitPerMinute: number
  /** How long the first answer to an Idempotency-Key is kept. */
  idempotencyTtlSeconds: number
  /** The CloudEvents `source` of the events this service publishes. */
  eventSource: string
}

/** The only place the inventory service reads the environment. Throws a SettingsError listing every problem. */
export function readSettings(env: Env): InventorySettings {
  const { read, common } = commonSettings(env, { port: 3001 })
  let apiKeys = new Map<string, string>()
  try {
    apiKeys = parseApiKeys(read.optional('API_KEYS'))
    if (apiKeys.size === 0) read.problem('API_KEYS must list at least one tenantId:key pair (keys of 16 characters or more), e.g. API_KEYS=contoso:$(openssl rand -hex 24)')
  } catch (error) {
    read.problem((error as Error).message)
  }
  const settings: InventorySettings = {
    ...common,
    apiKeys,
    confirmTimeoutMs: read.integer('CONFIRM_TIMEOUT_MS', 5_000, { min: 100, max: 10_000 }),
    rateLimitPerMinute: read.integer('RATE_LIMIT_PER_MINUTE', 6_000, { min: 1, max: 1_000_000 }),
    idempotencyTtlSeconds: read.integer('IDEMPOTENCY_TTL_SECONDS', 86_400, { min: 60, max: 30 * 86_400 }),
    eventSource: read.string('EVENT_SOURCE', 'urn:arrivals:inventory'),
  }
  if (settings.eventSource.length > 256) read.problem('EVENT_SOURCE must be at most 256 characters (a URI-reference naming this producer)')
  read.done()
  return settings
}
