import { parseCallbackPorts } from '@arrivals/callback-safety'
import { parseEncryptionKey, type SecretBoxKeys } from '@arrivals/contracts'
import { commonSettings, parseApiKeys, type Env } from '@arrivals/service-kit'

/** AMQP_URL, REDIS_URL, NAMESPACE, PORT, HOST, LOG_LEVEL: read alike by every service. */
type CommonSettings = ReturnType<typeof commonSettings>['common']

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
  /** SHA-256 of each bootstrap API key → the tenant it names. */
  apiKeys: Map<string, string>
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
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((entry) => entry.trim()).filter(Boolean)
}

/** The only place the subscriptions service reads the environment. Throws a SettingsError listing every problem. */
export function readSettings(env: Env): SubscriptionsSettings {
  const { read, common } = commonSettings(env, { port: 3002 })

  let apiKeys = new Map<string, string>()
  try {
    apiKeys = parseApiKeys(read.optional('API_KEYS'))
  } catch (error) {
    read.problem((error as Error).message)
  }

  let encryptionKey: SecretBoxKeys = Buffer.alloc(0)
  try {
    encryptionKey = parseEncryptionKey(read.optional('CALLBACK_ENCRYPTION_KEY'), read.optional('CALLBACK_ENCRYPTION_KEY_PREVIOUS'))
  } catch (error) {
    read.problem((error as Error).message)
  }

  const publicBaseUrl = read.optional('PUBLIC_BASE_URL')?.replace(/\/+$/, '')
  if (publicBaseUrl !== undefined) {
    const parsed = URL.canParse(publicBaseUrl) ? new URL(publicBaseUrl) : undefined
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.search || parsed.hash || parsed.username) {
      read.problem(`PUBLIC_BASE_URL must be an http(s) URL without query or credentials, e.g. https://arrivals.contoso.com, got "${publicBaseUrl}"`)
    }
  }

  const trustProxyText = read.optional('TRUST_PROXY')
  let trustProxy: boolean | string[] = false
  if (trustProxyText !== undefined) {
    const lower = trustProxyText.toLowerCase()
    if (['true', '1', 'yes'].includes(lower)) trustProxy = true
    else if (['false', '0', 'no'].includes(lower)) trustProxy = false
    else trustProxy = list(trustProxyText)
  }

  const entraTenant = read.optional('ENTRA_TENANT_ID')
  const entraAudience = read.optional('ENTRA_AUDIENCE')
  // The connector's Entra ID sign-in (the v1 endpoint with a resource URI) gets v1.0 tokens unless the
  // API's app registration asks for v2.0 ones: the tenant's issuer in both forms, or the ENTRA_ISSUER list.
  const entraIssuerList = list(read.optional('ENTRA_ISSUER'))
  const entraIssuer: string[] | undefined = entraIssuerList.length > 0 ? entraIssuerList
    : entraTenant ? [`https://sts.windows.net/${entraTenant}/`, `https://login.microsoftonline.com/${entraTenant}/v2.0`] : undefined
  const entraJwks = read.optional('ENTRA_JWKS_URL') ?? (entraTenant ? `https://login.microsoftonline.com/${entraTenant}/discovery/v2.0/keys` : undefined)
  let entra: EntraSettings | undefined
  if (entraTenant || entraAudience || entraIssuer || entraJwks) {
    if (!entraAudience) read.problem('ENTRA_AUDIENCE must be set when Entra ID tokens are enabled (the connector app\'s application ID URI or client id)')
    if (!entraIssuer) read.problem('ENTRA_ISSUER (or ENTRA_TENANT_ID) must be set when Entra ID tokens are enabled')
    if (!entraJwks || !URL.canParse(entraJwks) || !/^https?:$/.test(new URL(entraJwks).protocol)) {
      read.problem(`ENTRA_JWKS_URL (or ENTRA_TENANT_ID) must be an http(s) URL of the signing keys, got "${entraJwks ?? ''}"`)
    }
    if (entraAudience && entraIssuer && entraJwks) entra = { issuer: entraIssuer, audience: entraAudience, jwksUrl: entraJwks }
  }
  if (apiKeys.size === 0 && !entra) {
    read.problem('no way to authenticate: set API_KEYS (tenantId:key pairs, keys of 16 characters or more) and/or ENTRA_TENANT_ID + ENTRA_AUDIENCE')
  }

  const settings: SubscriptionsSettings = {
    ...common,
    apiKeys,
    encryptionKey,
    publicBaseUrl,
    trustProxy,
    callbackAllowPrivate: read.boolean('CALLBACK_ALLOW_PRIVATE', false),
    callbackAllowedHosts: list(read.optional('CALLBACK_ALLOWED_HOSTS')).map((host) => host.toLowerCase()),
    callbackAllowedPorts: parseCallbackPorts(read.optional('CALLBACK_ALLOWED_PORTS'), read.problem),
    entra,
    rateLimitPerMinute: read.integer('RATE_LIMIT_PER_MINUTE', 600, { min: 1, max: 1_000_000 }),
    bodyLimitBytes: read.integer('BODY_LIMIT_BYTES', 65_536, { min: 1_024, max: 10_485_760 }),
    confirmTimeoutMs: read.integer('CONFIRM_TIMEOUT_MS', 5_000, { min: 100, max: 10_000 }),
  }
  for (const host of settings.callbackAllowedHosts) {
    if (!/^(\*\.)?[a-z0-9.-]+$/.test(host)) read.problem(`CALLBACK_ALLOWED_HOSTS entry "${host}" must be a host name or *.domain pattern`)
  }
  read.done()
  return settings
}
