import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { renderKustomization, repoRoot } from '../src/kustomize.js'
import { composeEnvironment, containerEnvironment, readSettingsOf, serviceNames, type Env } from '../src/runtime.js'

/**
 * The values, not only the names: every service's own `readSettings` accepts what compose and each
 * overlay give it (key formats, URLs, ENDPOINT_CONCURRENCY below DELIVERY_PREFETCH, required
 * settings present), and refuses the base Secret template, which must never work as a real secret.
 */
const k8s = join(repoRoot, 'k8s')
const overlays = readdirSync(join(k8s, 'overlays')).map((name) => `overlays/${name}`)

// Secrets made outside the render, shaped as their makers make them: docs/deploy-aks.md's kubectl
// commands, and the RabbitMQ operator's default user (URL-safe base64 from 24 random bytes).
const external: Env = {
  'arrivals-secrets/CALLBACK_ENCRYPTION_KEY': randomBytes(32).toString('base64'),
  'arrivals-secrets/API_KEYS': `contoso:${randomBytes(24).toString('hex')}`,
  'arrivals-rabbitmq-default-user/username': `default_user_${randomBytes(15).toString('base64url')}`,
  'arrivals-rabbitmq-default-user/password': randomBytes(24).toString('base64url'),
  'arrivals-azure-redis/url': `rediss://:${randomBytes(32).toString('base64url')}@contoso-arrivals-redis.westeurope.redis.azure.net:10000`,
}

describe('docker-compose.yml', () => {
  it.each(serviceNames)('%s: its environment, defaults resolved, is accepted by the service', async (service) => {
    const readSettings = await readSettingsOf(service)
    expect(() => readSettings(composeEnvironment(service))).not.toThrow()
  })
})

describe.each(overlays)('k8s/%s', (overlay) => {
  const objects = renderKustomization(join(k8s, overlay))
  it.each(serviceNames)('%s: the container environment (ConfigMap, Secrets, env) is accepted by the service', async (service) => {
    const deployment = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === service)!
    const env = containerEnvironment(deployment, objects, external)
    const readSettings = await readSettingsOf(service)
    expect(() => readSettings(env)).not.toThrow()
  })
})

describe('k8s/overlays/aks with the Secrets synced from Key Vault', () => {
  const objects = renderKustomization(join(k8s, 'overlays/aks'))
  type Spc = { secretObjects: { secretName: string; data: { objectName: string; key: string }[] }[] }
  const [current, previous] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')]
  /** The Secrets exactly as the SecretProviderClasses sync them from vault secrets of these values. */
  function fromVault(vault: Record<string, string>): Env {
    const synced: Env = { ...external }
    for (const name of Object.keys(synced)) if (name.startsWith('arrivals-secrets/') || name.startsWith('arrivals-azure-redis/')) delete synced[name]
    for (const spc of objects.filter((object) => object.kind === 'SecretProviderClass')) {
      for (const secret of (spc.spec as Spc).secretObjects) {
        for (const entry of secret.data) if (vault[entry.objectName] !== undefined) synced[`${secret.secretName}/${entry.key}`] = vault[entry.objectName]!
      }
    }
    return synced
  }
  const vault = {
    'api-keys': external['arrivals-secrets/API_KEYS']!, 'redis-url': external['arrivals-azure-redis/url']!,
    'callback-encryption-key': current,
  }

  it.each(serviceNames)('%s starts between rotations (the previous key holds the current one) and during one', async (service) => {
    const deployment = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === service)!
    const readSettings = await readSettingsOf(service)
    const steady = readSettings(containerEnvironment(deployment, objects, fromVault({ ...vault, 'callback-encryption-key-previous': current })))
    const rotating = readSettings(containerEnvironment(deployment, objects, fromVault({ ...vault, 'callback-encryption-key-previous': previous })))
    if (service === 'inventory') return
    expect(steady.encryptionKey).toEqual(Buffer.from(current, 'base64'))
    expect(rotating.encryptionKey).toEqual({ current: Buffer.from(current, 'base64'), previous: Buffer.from(previous, 'base64') })
  })
})

describe('the settings issue 19 adds', () => {
  it.each(['subscriptions', 'dispatcher'] as const)('%s reads CALLBACK_ALLOWED_PORTS and CALLBACK_ENCRYPTION_KEY_PREVIOUS, and names each when it is wrong', async (service) => {
    const readSettings = await readSettingsOf(service)
    const env = composeEnvironment(service)
    expect(readSettings({ ...env, CALLBACK_ALLOWED_PORTS: '443, 8443' }).callbackAllowedPorts).toEqual([443, 8443])
    expect(() => readSettings({ ...env, CALLBACK_ALLOWED_PORTS: 'https' })).toThrow(/CALLBACK_ALLOWED_PORTS/)
    expect(() => readSettings({ ...env, CALLBACK_ENCRYPTION_KEY_PREVIOUS: 'c2hvcnQ=' })).toThrow(/CALLBACK_ENCRYPTION_KEY_PREVIOUS decodes to 5 bytes/)
  })
})

describe('k8s/base Secret template', () => {
  const objects = renderKustomization(join(k8s, 'base'))
  const secrets = ['CALLBACK_ENCRYPTION_KEY', 'API_KEYS']

  it.each(serviceNames)('%s refuses to start with it, naming each placeholder it reads', async (service) => {
    const deployment = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === service)!
    const env = containerEnvironment(deployment, objects, {})
    const readSettings = await readSettingsOf(service)
    let message = ''
    try {
      readSettings(env)
    } catch (error) {
      message = (error as Error).message
    }
    const reads = secrets.filter((name) => (service === 'dispatcher' ? name !== 'API_KEYS' : service === 'inventory' ? name !== 'CALLBACK_ENCRYPTION_KEY' : true))
    for (const name of reads) expect(message, `${service} accepted the template's ${name}`).toContain(name)
  })
})

describe('a managed Redis access key in REDIS_URL', () => {
  // Azure's access keys are base64: about half of them contain "/", which ends the URL's authority.
  const key = 'Zm9v/YmFy+YmF6PQ==abcdefghijklmnopqrstuvw='
  const url = (password: string) => `rediss://:${password}@contoso-arrivals-redis.westeurope.redis.azure.net:10000`

  it('is refused raw and accepted percent-encoded, which is how the guide and the component put it in the Secret', async () => {
    const readSettings = await readSettingsOf('dispatcher')
    const env = { ...composeEnvironment('dispatcher') }
    expect(() => readSettings({ ...env, REDIS_URL: url(key) })).toThrow(/REDIS_URL/)
    expect(() => readSettings({ ...env, REDIS_URL: url(encodeURIComponent(key)) })).not.toThrow()
    for (const doc of ['docs/deploy-aks.md', 'k8s/components/azure-cache-redis/README.md']) {
      const command = readFileSync(join(repoRoot, doc), 'utf8').split('\n').find((line) => line.includes('rediss://:'))
      expect(command, doc).toContain('encodeURIComponent(')
    }
  })
})
