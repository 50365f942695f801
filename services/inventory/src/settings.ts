import {
  authFailuresPerMinute, commonSettingsTable, integer, parseApiKeys, parsed, readSettingsTable, setting, text, type CommonSettings, type Credential,
  type Env,
} from '@arrivals/service-kit'

export interface InventorySettings extends CommonSettings {
  /**
   * SHA-256 of each bootstrap API key → the tenant it names. A role (`:operator`) is accepted, so one
   * API_KEYS value can serve every service, and means nothing here: store systems only record receipts.
   */
  apiKeys: Map<string, Credential>
  /** How long a receipt waits for the broker's confirm before it is answered with 503 (≤ 10 s). */
  confirmTimeoutMs: number
  /** Requests per minute per API key (per replica). */
  rateLimitPerMinute: number
  /** How long the first answer to an Idempotency-Key is kept. */
  idempotencyTtlSeconds: number
  /** The CloudEvents `source` of the events this service publishes. */
  eventSource: string
  /** Failed authentications per client address per minute (per replica) before 429; 0: no limit. */
  authFailuresPerMinute: number
  /** Most stores one tenant may register (a receipt for a new store over it is refused). */
  quotaStores: number
}

const apiKeys = parsed((raw) => {
  const keys = parseApiKeys(raw)
  if (keys.size === 0) throw new Error('API_KEYS must list at least one tenantId:key pair (keys of 16 characters or more), e.g. API_KEYS=contoso:$(openssl rand -hex 24)')
  return keys
}, new Map<string, Credential>(), '(required)')

const eventSource = parsed((raw) => {
  const value = text('urn:arrivals:inventory').parse(raw, 'EVENT_SOURCE')
  if (value.length > 256) throw new Error('EVENT_SOURCE must be at most 256 characters (a URI-reference naming this producer)')
  return value
}, 'urn:arrivals:inventory', '`urn:arrivals:inventory`')

/** Every variable the inventory service reads; the README's settings table is this table (a test compares them). */
export const inventorySettingsTable = {
  ...commonSettingsTable({ port: 3001, listensFor: 'the API, /docs, /healthz, /readyz and /metrics' }),
  apiKeys: setting('API_KEYS', apiKeys,
    '`tenantId:key` pairs separated by commas; keys at least 16 characters. Only their SHA-256 is kept. A `:operator` suffix is accepted and changes nothing here', { secret: true }),
  confirmTimeoutMs: setting('CONFIRM_TIMEOUT_MS', integer(5_000, { min: 100, max: 10_000 }), 'how long a receipt waits for the broker\'s confirm before `503` (100–10000)'),
  rateLimitPerMinute: setting('RATE_LIMIT_PER_MINUTE', integer(6_000, { min: 1, max: 1_000_000 }), 'requests per minute per API key, per replica'),
  idempotencyTtlSeconds: setting('IDEMPOTENCY_TTL_SECONDS', integer(86_400, { min: 60, max: 30 * 86_400 }), 'how long an `Idempotency-Key`\'s answer is kept'),
  eventSource: setting('EVENT_SOURCE', eventSource, 'the CloudEvents `source` of published events'),
  authFailuresPerMinute,
  quotaStores: setting('QUOTA_STORES', integer(5_000, { min: 1, max: 1_000_000 }),
    'most stores per tenant; registering a new one over it (`PUT` or a receipt) gets `409 QUOTA_EXCEEDED`, a known store always works'),
}

/** The only place the inventory service reads the environment. Throws a SettingsError listing every problem. */
export function readSettings(env: Env): InventorySettings {
  return readSettingsTable(inventorySettingsTable, env)
}
