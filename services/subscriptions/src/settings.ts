import { DEFAULT_CALLBACK_PORTS, parseCallbackPorts } from '@arrivals/callback-safety'
import { encryptionKeyRing, parseEncryptionKey, parsePreviousEncryptionKey, type SecretBoxKeys } from '@arrivals/contracts'
import {
  authFailuresPerMinute, boolean, commonSettingsTable, integer, list, optionalText, parseApiKeys, parsed, readSettingsTable, setting, SettingsError,
  splitList, type CommonSettings, type Credential, type Env,
} from '@arrivals/service-kit'

/** Microsoft Entra ID bearer tokens: who may sign them and for whom they must be issued. */
export interface EntraSettings {
  /**
   * Accepted `iss` claims, exactly. Entra ID issues v1.0 access tokens (`https://sts.windows.net/<tenant>/`)
   * unless the API's app registration sets `accessTokenAcceptedVersion: 2` (then
   * `https://login.microsoftonline.com/<tenant>/v2.0`): derived from ENTRA_TENANT_ID, both are accepted.
   */
  issuer: string | string[]
  /** Exact `aud` claim: the connector's application ID URI or client id. */
  audience: string
  /** Where the signing keys are published. */
  jwksUrl: string
}

export interface SubscriptionsSettings extends CommonSettings {
  /** SHA-256 of each bootstrap API key → the tenant it names and its role (maker or operator). */
  apiKeys: Map<string, Credential>
  /** 32 bytes (and the previous key during a rotation); seals callback URLs and signing secrets at rest (the dispatcher holds the same key). */
  encryptionKey: SecretBoxKeys
  /**
   * Where callers reach this service (`https://arrivals.contoso.com` or with a path prefix): the
   * Location header and the connector's host/basePath/schemes. Unset: taken from the request.
   */
  publicBaseUrl: string | undefined
  /** Fastify's trustProxy: believe X-Forwarded-Proto/-Host from these proxies (true = any). */
  trustProxy: boolean | string[]
  /** Lift the SSRF address rules and allow http callbacks (development and tests only). */
  callbackAllowPrivate: boolean
  /** Optional host patterns a callback must match (`*.logic.azure.com`). */
  callbackAllowedHosts: string[]
  /** CALLBACK_ALLOWED_PORTS: the only ports a callback may use (unset: 443). */
  callbackAllowedPorts?: number[]
  /** Entra ID bearer tokens are accepted only when configured. */
  entra: EntraSettings | undefined
  /** Requests per minute per credential (per replica). */
  rateLimitPerMinute: number
  /** Largest request body accepted (413 above it). */
  bodyLimitBytes: number
  /** How long publishing a delivery task waits for the broker's confirm. */
  confirmTimeoutMs: number
  /** Failed authentications per client address per minute (per replica) before 429; 0: no limit. */
  authFailuresPerMinute: number
  /** Most subscriptions one tenant may have. */
  quotaSubscriptions: number
  /** Most subscriptions one tenant may have on one store (those for every store count as one more store). */
  quotaSubscriptionsPerStore: number
}

const publicBaseUrl = parsed((raw) => {
  const value = raw?.replace(/\/+$/, '')
  if (value === undefined) return undefined
  const url = URL.canParse(value) ? new URL(value) : undefined
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash || url.username) {
    throw new Error(`PUBLIC_BASE_URL must be an http(s) URL without query or credentials, e.g. https://arrivals.contoso.com, got "${value}"`)
  }
  return value
}, undefined as string | undefined, '(from the request)')

const trustProxy = parsed((raw): boolean | string[] => {
  const lower = raw?.toLowerCase()
  if (lower === undefined || ['false', '0', 'no'].includes(lower)) return false
  if (['true', '1', 'yes'].includes(lower)) return true
  return splitList(raw)
}, false, '`false`')

const callbackAllowedHosts = parsed((raw) => {
  const hosts = splitList(raw).map((host) => host.toLowerCase())
  const problems = hosts.filter((host) => !/^(\*\.)?[a-z0-9.-]+$/.test(host))
    .map((host) => `CALLBACK_ALLOWED_HOSTS entry "${host}" must be a host name or *.domain pattern`)
  if (problems.length) throw new SettingsError(problems)
  return hosts
}, [] as string[], '(any public host)')

const callbackPorts = parsed((raw) => parseCallbackPorts(raw, (message) => { throw new Error(message) }), [...DEFAULT_CALLBACK_PORTS],
  DEFAULT_CALLBACK_PORTS.map((port) => `\`${port}\``).join(', '))

/** Every variable the subscriptions service reads; the README's settings table is this table (a test compares them). */
export const subscriptionsSettingsTable = {
  ...commonSettingsTable({ port: 3002, listensFor: 'the connector API, /docs, /healthz, /readyz and /metrics' }),
  apiKeys: setting('API_KEYS', parsed(parseApiKeys, new Map<string, Credential>(), '(none)'),
    '`tenantId:key,…`, keys of 16+ characters: a maker\'s key (the connector); `tenantId:key:operator` an operator\'s (also the operator API and console). Required unless Entra ID is configured', { secret: true }),
  encryptionKey: setting('CALLBACK_ENCRYPTION_KEY', parsed((raw) => parseEncryptionKey(raw), Buffer.alloc(0), '(required)'),
    'base64 of 32 random bytes, the same as the dispatcher\'s; sealed values carry its key id', { secret: true }),
  previousEncryptionKey: setting('CALLBACK_ENCRYPTION_KEY_PREVIOUS', parsed(parsePreviousEncryptionKey, undefined, '(none)'),
    'during a key rotation, the key being replaced: values it sealed still open (equal to the current key: no rotation)', { secret: true }),
  publicBaseUrl: setting('PUBLIC_BASE_URL', publicBaseUrl,
    'e.g. `https://arrivals.contoso.com` or with a path prefix: the `Location` and the connector\'s host/basePath/scheme'),
  trustProxy: setting('TRUST_PROXY', trustProxy,
    '`true`, or proxy addresses/CIDRs: believe `X-Forwarded-Proto/-Host` (used when `PUBLIC_BASE_URL` is unset)'),
  callbackAllowPrivate: setting('CALLBACK_ALLOW_PRIVATE', boolean(false), 'allow http and internal addresses (development and tests only)'),
  callbackAllowedHosts: setting('CALLBACK_ALLOWED_HOSTS', callbackAllowedHosts, 'comma list of host patterns, e.g. `*.logic.azure.com`'),
  callbackAllowedPorts: setting('CALLBACK_ALLOWED_PORTS', callbackPorts,
    'comma list of the ports a callback may use (400 naming them otherwise); the cluster\'s egress policy opens the same ports. Lifted by `CALLBACK_ALLOW_PRIVATE`'),
  entraTenant: setting('ENTRA_TENANT_ID', optionalText('(off)'),
    'sets the default issuers (`https://sts.windows.net/<id>/` for v1.0 tokens, which the connector\'s sign-in gets unless the API\'s app registration sets `accessTokenAcceptedVersion: 2`, and `https://login.microsoftonline.com/<id>/v2.0`) and the JWKS URL'),
  entraAudience: setting('ENTRA_AUDIENCE', optionalText('(required with Entra)'),
    'the API\'s application ID URI (`aud` of v1.0 tokens) or client id (`aud` of v2.0 tokens)'),
  entraIssuer: setting('ENTRA_ISSUER', list('from `ENTRA_TENANT_ID`'), 'override: a comma list of accepted issuers (exact `iss`)'),
  entraJwksUrl: setting('ENTRA_JWKS_URL', optionalText('from `ENTRA_TENANT_ID`'), 'override: the URL of the signing keys'),
  rateLimitPerMinute: setting('RATE_LIMIT_PER_MINUTE', integer(600, { min: 1, max: 1_000_000 }),
    'per credential, per replica; `X-RateLimit-*` headers, 429 + `Retry-After`'),
  bodyLimitBytes: setting('BODY_LIMIT_BYTES', integer(65_536, { min: 1_024, max: 10_485_760 }), 'larger bodies get 413'),
  confirmTimeoutMs: setting('CONFIRM_TIMEOUT_MS', integer(5_000, { min: 100, max: 10_000 }), 'wait for the broker\'s confirm of a delivery task (503 after)'),
  authFailuresPerMinute,
  quotaSubscriptions: setting('QUOTA_SUBSCRIPTIONS', integer(10_000, { min: 1, max: 10_000_000 }),
    'most subscriptions per tenant; a new one over it gets `409 QUOTA_EXCEEDED` (a re-subscribe never does)'),
  quotaSubscriptionsPerStore: setting('QUOTA_SUBSCRIPTIONS_PER_STORE', integer(100, { min: 1, max: 1_000_000 }),
    'most subscriptions per tenant on one store (those without a store filter count as one store): the webhooks one receipt can cause'),
}

/** The only place the subscriptions service reads the environment. Throws a SettingsError listing every problem. */
export function readSettings(env: Env): SubscriptionsSettings {
  return readSettingsTable(subscriptionsSettingsTable, env, (values, problem) => {
    const { entraTenant, entraAudience, entraIssuer: issuers, entraJwksUrl, previousEncryptionKey, ...settings } = values
    // The connector's Entra ID sign-in (the v1 endpoint with a resource URI) gets v1.0 tokens unless the
    // API's app registration asks for v2.0 ones: the tenant's issuer in both forms, or the ENTRA_ISSUER list.
    const entraIssuer: string[] | undefined = issuers.length > 0 ? issuers
      : entraTenant ? [`https://sts.windows.net/${entraTenant}/`, `https://login.microsoftonline.com/${entraTenant}/v2.0`] : undefined
    const entraJwks = entraJwksUrl ?? (entraTenant ? `https://login.microsoftonline.com/${entraTenant}/discovery/v2.0/keys` : undefined)
    let entra: EntraSettings | undefined
    if (entraTenant || entraAudience || entraIssuer || entraJwks) {
      if (!entraAudience) problem('ENTRA_AUDIENCE must be set when Entra ID tokens are enabled (the connector app\'s application ID URI or client id)')
      if (!entraIssuer) problem('ENTRA_ISSUER (or ENTRA_TENANT_ID) must be set when Entra ID tokens are enabled')
      if (!entraJwks || !URL.canParse(entraJwks) || !/^https?:$/.test(new URL(entraJwks).protocol)) {
        problem(`ENTRA_JWKS_URL (or ENTRA_TENANT_ID) must be an http(s) URL of the signing keys, got "${entraJwks ?? ''}"`)
      }
      if (entraAudience && entraIssuer && entraJwks) entra = { issuer: entraIssuer, audience: entraAudience, jwksUrl: entraJwks }
    }
    if (settings.apiKeys.size === 0 && !entra) {
      problem('no way to authenticate: set API_KEYS (tenantId:key pairs, keys of 16 characters or more) and/or ENTRA_TENANT_ID + ENTRA_AUDIENCE')
    }
    return { ...settings, encryptionKey: encryptionKeyRing(settings.encryptionKey, previousEncryptionKey), entra }
  })
}
