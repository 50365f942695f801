import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type K8sObject, readYamlObjects, renderKustomization, repoRoot } from '../src/kustomize.js'
import { autoscalerConflicts, envValue, isPinnedImage, mebibytes, millicores, oldSpaceMebibytes, podTemplate, workloadKinds, workloadViolations } from '../src/policy.js'

/**
 * What running on AKS today needs (issue 19), checked on the rendered overlays: the Gateway API
 * ingress and no NGINX Ingress, secrets from Key Vault, sizes from the benchmark, autoscalers that
 * own their Deployments, drains that are never blocked, zones, pinned versions.
 */
const k8s = join(repoRoot, 'k8s')
const overlays = readdirSync(join(k8s, 'overlays')).map((name) => `overlays/${name}`)
const rendered = new Map(['base', ...overlays].map((target) => [target, renderKustomization(join(k8s, target))]))
const aks = rendered.get('overlays/aks')!
const services = ['inventory', 'subscriptions', 'dispatcher'] as const

const find = (objects: K8sObject[], kind: string, name: string) => objects.find((object) => object.kind === kind && object.metadata.name === name)
type Container = { name: string; image: string; resources: { requests: Record<string, string>; limits: Record<string, string> }; volumeMounts?: { name: string }[] }
const serviceContainer = (objects: K8sObject[], service: string) => podTemplate(find(objects, 'Deployment', service)!).spec.containers[0] as unknown as Container

/** Peak RSS (MB) of every "Arrivals dispatcher" row of the current results in docs/benchmarks.md. */
function measuredDispatcherPeaks(): number[] {
  const benchmarks = readFileSync(join(repoRoot, 'docs/benchmarks.md'), 'utf8')
  const current = benchmarks.slice(0, benchmarks.indexOf('## History'))
  const header = current.split('\n').find((line) => line.startsWith('| scenario |'))!.split('|').map((cell) => cell.trim())
  const column = header.indexOf('peak RSS MB')
  return current.split('\n').filter((line) => line.split('|')[2]?.trim() === 'Arrivals dispatcher').map((line) => Number(line.split('|')[column]))
}

describe('k8s/overlays/aks: the connector API behind the Gateway API', () => {
  const gateway = find(aks, 'Gateway', 'arrivals')!
  const route = find(aks, 'HTTPRoute', 'subscriptions')!
  type Listener = { name: string; protocol: string; port: number; hostname: string; tls: { mode: string; certificateRefs: { kind?: string; name: string }[] } }
  const listeners = (gateway.spec as { listeners: Listener[] }).listeners

  it('renders a Gateway of the application routing add-on\'s approuting-istio class, and no Ingress', () => {
    expect((gateway.spec as { gatewayClassName: string }).gatewayClassName).toBe('approuting-istio')
    expect(aks.filter((object) => object.kind === 'Ingress' || object.kind === 'IngressClass')).toEqual([])
    expect(JSON.stringify(aks)).not.toContain('webapprouting.kubernetes.azure.com')
  })

  it('terminates TLS on 443 for PUBLIC_BASE_URL\'s host with a certificate synced from Key Vault', () => {
    const host = new URL(envValue(find(aks, 'Deployment', 'subscriptions')!, aks, 'PUBLIC_BASE_URL')!).hostname
    expect(listeners.map(({ protocol, port, hostname }) => ({ protocol, port, hostname }))).toEqual([{ protocol: 'HTTPS', port: 443, hostname: host }])
    const [certificate] = listeners[0]!.tls.certificateRefs
    expect(listeners[0]!.tls.mode).toBe('Terminate')
    expect(certificate!.kind ?? 'Secret').toBe('Secret')
    // The Secret is not rendered: a SecretProviderClass syncs it from the vault, as a TLS Secret.
    expect(find(aks, 'Secret', certificate!.name)).toBeUndefined()
    const synced = aks.filter((object) => object.kind === 'SecretProviderClass')
      .flatMap((spc) => (spc.spec as { secretObjects: { secretName: string; type: string; data: { key: string }[] }[] }).secretObjects.map((secret) => ({ spc, secret })))
      .find(({ secret }) => secret.secretName === certificate!.name)
    expect(synced?.secret.type).toBe('kubernetes.io/tls')
    expect(synced!.secret.data.map((entry) => entry.key).sort()).toEqual(['tls.crt', 'tls.key'])
    // The driver syncs only while a pod mounts the class.
    expect(aks.filter((object) => object.kind === 'Deployment').some((deployment) => ((podTemplate(deployment).spec as unknown as { volumes?: { csi?: { volumeAttributes?: Record<string, string> } }[] }).volumes ?? [])
      .some((volume) => volume.csi?.volumeAttributes?.secretProviderClass === synced!.spc.metadata.name))).toBe(true)
  })

  it('routes the connector paths only (never /metrics or the probes) to the subscriptions Service', () => {
    type Rule = { matches: { path: { type: string; value: string } }[]; backendRefs: { name: string; port: number }[] }
    const spec = route.spec as { parentRefs: { name: string; sectionName: string }[]; hostnames: string[]; rules: Rule[] }
    expect(spec.parentRefs).toEqual([{ name: gateway.metadata.name, sectionName: listeners[0]!.name }])
    expect(spec.hostnames).toEqual([listeners[0]!.hostname])
    const paths = spec.rules.flatMap((rule) => rule.matches.map((match) => `${match.path.type} ${match.path.value}`))
    expect(paths.sort()).toEqual(['PathPrefix /connector', 'PathPrefix /docs', 'PathPrefix /v1'])
    const service = find(aks, 'Service', 'subscriptions')!
    const ports = (service.spec as { ports: { port: number }[] }).ports.map((port) => port.port)
    for (const backend of spec.rules.flatMap((rule) => rule.backendRefs)) {
      expect(backend.name).toBe('subscriptions')
      expect(ports).toContain(backend.port)
    }
    expect(envValue(find(aks, 'Deployment', 'subscriptions')!, aks, 'TRUST_PROXY')).toBe('true')
  })
})

describe('k8s/overlays/aks: secrets from Key Vault with workload identity', () => {
  const classes = aks.filter((object) => object.kind === 'SecretProviderClass')
  type Spc = { parameters: Record<string, string>; secretObjects: { secretName: string; data: { objectName: string; key: string }[] }[] }

  it('renders no Secret and no placeholder: everything secret comes from the vault', () => {
    expect(aks.filter((object) => object.kind === 'Secret').map((object) => object.metadata.name)).toEqual([])
    expect(JSON.stringify(aks)).not.toMatch(/REPLACE-/)
  })

  it('syncs every Secret key the services read from it, and the previous encryption key for rotations', () => {
    const synced = classes.flatMap((spc) => (spc.spec as Spc).secretObjects.flatMap((secret) => secret.data.map((entry) => `${secret.secretName}/${entry.key}`)))
    expect(synced).toEqual(expect.arrayContaining([
      'arrivals-secrets/CALLBACK_ENCRYPTION_KEY', 'arrivals-secrets/CALLBACK_ENCRYPTION_KEY_PREVIOUS', 'arrivals-secrets/API_KEYS', 'arrivals-azure-redis/url',
    ]))
    for (const spc of classes) {
      const objects = (spc.spec as Spc).parameters.objects!
      for (const entry of (spc.spec as Spc).secretObjects.flatMap((secret) => secret.data)) expect(objects, spc.metadata.name).toContain(`objectName: ${entry.objectName}`)
    }
  })

  it('every Deployment mounts the class as a ServiceAccount federated with the class\'s identity', () => {
    const secrets = classes.find((spc) => spc.metadata.name === 'arrivals-secrets')!
    const clientId = (secrets.spec as Spc).parameters.clientID
    for (const service of services) {
      const deployment = find(aks, 'Deployment', service)!
      const pod = podTemplate(deployment).spec as unknown as { serviceAccountName: string; volumes: { name: string; csi?: { driver: string; volumeAttributes: Record<string, string> } }[] }
      const volume = pod.volumes.find((candidate) => candidate.csi?.volumeAttributes.secretProviderClass === 'arrivals-secrets')
      expect(volume?.csi?.driver, service).toBe('secrets-store.csi.k8s.io')
      expect(serviceContainer(aks, service).volumeMounts?.map((mount) => mount.name)).toContain(volume!.name)
      const account = find(aks, 'ServiceAccount', pod.serviceAccountName)!
      expect(account.metadata.annotations, service).toMatchObject({ 'azure.workload.identity/client-id': clientId })
    }
  })
})

describe('sizes from docs/benchmarks.md', () => {
  // The inventory figure is the one docs/benchmarks.md quotes for 200 receipts/s ("Sizes" paragraph).
  const measuredMb = { dispatcher: Math.max(...measuredDispatcherPeaks()), inventory: 200 }

  it('reads the dispatcher\'s measured peaks from the benchmark', () => {
    expect(measuredMb.dispatcher).toBeGreaterThanOrEqual(400)
  })

  it.each(['base', ...overlays])('%s: requests hold the measured peaks, limits are above them, the heap is relative to the limit', (target) => {
    const objects = rendered.get(target)!
    for (const service of services) {
      const { requests, limits } = serviceContainer(objects, service).resources
      const measured = measuredMb[service as keyof typeof measuredMb] ?? measuredMb.inventory
      // MB as the benchmark reports them, taken as MiB: the stricter reading.
      expect(mebibytes(requests.memory!), `${service} memory request`).toBeGreaterThanOrEqual(measured)
      expect(mebibytes(limits.memory!), `${service} memory limit`).toBeGreaterThanOrEqual(measured * 1.25)
      const heap = oldSpaceMebibytes(serviceContainer(objects, service) as never)
      expect(heap, `${service} NODE_OPTIONS --max-old-space-size`).toBeDefined()
      expect(heap! / mebibytes(limits.memory!), service).toBeGreaterThanOrEqual(0.5)
      expect(heap! / mebibytes(limits.memory!), service).toBeLessThanOrEqual(0.75)
    }
  })
})

describe.each(overlays)('k8s/%s: scaling and drains', (overlay) => {
  const objects = rendered.get(overlay)!

  it('sets no replicas on a Deployment an autoscaler owns, and some autoscaler owns the dispatcher', () => {
    expect(autoscalerConflicts(objects)).toEqual([])
    expect(objects.some((object) => ['ScaledObject', 'HorizontalPodAutoscaler'].includes(object.kind))).toBe(true)
  })

  it('a CPU HPA scales at a sensible share of the request (between 200m and the limit)', () => {
    for (const hpa of objects.filter((object) => object.kind === 'HorizontalPodAutoscaler')) {
      const spec = hpa.spec as { scaleTargetRef: { name: string }; metrics: { resource?: { name: string; target: { averageUtilization: number } } }[] }
      const { requests, limits } = serviceContainer(objects, spec.scaleTargetRef.name).resources
      for (const metric of spec.metrics.filter((candidate) => candidate.resource?.name === 'cpu')) {
        const at = millicores(requests.cpu!) * metric.resource!.target.averageUtilization / 100
        expect(at).toBeGreaterThanOrEqual(200)
        expect(at).toBeLessThanOrEqual(millicores(limits.cpu!))
      }
    }
  })

  it('every PodDisruptionBudget lets unready pods be evicted', () => {
    const budgets = objects.filter((object) => object.kind === 'PodDisruptionBudget')
    expect(budgets.length).toBeGreaterThanOrEqual(3)
    for (const budget of budgets) expect((budget.spec as { unhealthyPodEvictionPolicy?: string }).unhealthyPodEvictionPolicy, budget.metadata.name).toBe('AlwaysAllow')
  })
})

describe('zones and versions', () => {
  type Spread = { topologyKey: string; whenUnsatisfiable: string; maxSkew: number; labelSelector: { matchLabels: Record<string, string> } }
  const spreads = (objects: K8sObject[], service: string) => (podTemplate(find(objects, 'Deployment', service)!).spec as unknown as { topologySpreadConstraints: Spread[] }).topologySpreadConstraints

  it.each(['base', ...overlays])('%s spreads every service over zones and nodes', (target) => {
    for (const service of services) {
      const constraints = spreads(rendered.get(target)!, service)
      expect(constraints.map((constraint) => constraint.topologyKey).sort(), service).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone'])
      for (const constraint of constraints) expect(constraint.labelSelector.matchLabels).toEqual({ app: service })
    }
  })

  it('aks: strict zone spread, RabbitMQ one per node (required) and one per zone, on zone-redundant disks', () => {
    for (const service of services) {
      expect(spreads(aks, service).find((constraint) => constraint.topologyKey === 'topology.kubernetes.io/zone')!.whenUnsatisfiable, service).toBe('DoNotSchedule')
    }
    const cluster = find(aks, 'RabbitmqCluster', 'arrivals-rabbitmq')!
    type ClusterSpec = {
      affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution?: { topologyKey: string }[] } }
      override: { statefulSet: { spec: { template: { spec: { topologySpreadConstraints: Spread[] } } } } }
      persistence: { storageClassName: string }
    }
    const spec = cluster.spec as ClusterSpec
    expect(spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution?.map((term) => term.topologyKey)).toEqual(['kubernetes.io/hostname'])
    const zoneSpread = spec.override.statefulSet.spec.template.spec.topologySpreadConstraints[0]!
    expect(zoneSpread).toMatchObject({ topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', maxSkew: 1 })
    const storageClass = find(aks, 'StorageClass', spec.persistence.storageClassName)!
    expect(storageClass).toMatchObject({ provisioner: 'disk.csi.azure.com', reclaimPolicy: 'Retain', volumeBindingMode: 'WaitForFirstConsumer' })
    expect((storageClass as unknown as { parameters: { skuName: string } }).parameters.skuName).toMatch(/_ZRS$/)
  })

  it.each(overlays)('%s: RabbitMQ requests equal its limits', (overlay) => {
    const cluster = find(rendered.get(overlay)!, 'RabbitmqCluster', 'arrivals-rabbitmq')!
    const { requests, limits } = (cluster.spec as { resources: { requests: Record<string, string>; limits: Record<string, string> } }).resources
    expect(requests).toEqual(limits)
  })

  it.each(['base', ...overlays])('%s pins every image, RabbitMQ\'s included, to a full version', (target) => {
    const objects = rendered.get(target)!
    const images = objects.filter((object) => workloadKinds.has(object.kind)).flatMap((workload) => podTemplate(workload).spec.containers.map((container) => container.image!))
    images.push(...objects.filter((object) => object.kind === 'RabbitmqCluster').map((cluster) => (cluster.spec as { image: string }).image))
    expect(images.filter((image) => !isPinnedImage(image))).toEqual([])
  })

  it('the pin check refuses moving tags and accepts versions, digests and our own images\' tags', () => {
    for (const image of ['redis:7.4-alpine', 'rabbitmq:4.1-management', 'rabbitmq', 'node:latest', 'contoso.azurecr.io/arrivals-dispatcher:latest']) expect(isPinnedImage(image), image).toBe(false)
    for (const image of ['redis:7.4.5-alpine', 'rabbitmq:4.1.4-management', `node@sha256:${'a'.repeat(64)}`, 'arrivals-dispatcher:dev', 'contoso.azurecr.io/arrivals-inventory:0.1.0']) expect(isPinnedImage(image), image).toBe(true)
  })

  it('the guide installs a pinned RabbitMQ operator release, never the latest one', () => {
    const guide = readFileSync(join(repoRoot, 'docs/deploy-aks.md'), 'utf8')
    const operator = guide.split('\n').filter((line) => line.includes('cluster-operator') && line.includes('https://'))
    expect(operator.length).toBeGreaterThan(0)
    for (const line of operator) expect(line).toMatch(/releases\/download\/v\d+\.\d+\.\d+\/cluster-operator\.yml/)
  })
})

describe('k8s/overlays/aks: clusters (issue 13)', () => {
  it('runs RabbitMQ as a cluster of three nodes, which quorum queues\' three replicas need', () => {
    expect((find(aks, 'RabbitmqCluster', 'arrivals-rabbitmq')!.spec as { replicas: number }).replicas).toBe(3)
  })

  it('gives every service REDIS_CLUSTER_NODES for Azure Managed Redis with the OSS cluster policy, and the guide creates it so', () => {
    const config = find(aks, 'ConfigMap', 'arrivals-config')!.data as Record<string, string>
    expect(config.REDIS_CLUSTER_NODES).toMatch(/^[a-z0-9.-]+\.redis\.azure\.net:10000$/)
    for (const service of services) {
      const envFrom = (podTemplate(find(aks, 'Deployment', service)!).spec.containers[0] as { envFrom?: { configMapRef?: { name: string } }[] }).envFrom ?? []
      expect(envFrom.some((source) => source.configMapRef?.name === 'arrivals-config'), service).toBe(true)
    }
    const guide = readFileSync(join(repoRoot, 'docs/deploy-aks.md'), 'utf8')
    expect(guide).toContain('--clustering-policy OSSCluster')
    expect(guide).not.toContain('--clustering-policy NoCluster')
    expect(guide).toContain('REDIS_CLUSTER_NODES')
  })
})

describe('the in-cluster Redis keeps its data', () => {
  const local = rendered.get('overlays/local')!

  it('writes the append-only file and RDB snapshots, and a CronJob copies snapshots off the data volume', () => {
    const redis = find(local, 'StatefulSet', 'redis')!
    const args = (podTemplate(redis).spec.containers[0] as unknown as { args: string[] }).args
    expect(args.join(' ')).toContain('--appendonly yes')
    const save = args[args.indexOf('--save') + 1]!
    expect(save).toMatch(/^\d+ \d+/)
    const backup = find(local, 'CronJob', 'redis-backup')!
    const job = podTemplate(backup).spec as unknown as { containers: { command: string[]; volumeMounts: { mountPath: string }[] }[]; volumes: { persistentVolumeClaim?: { claimName: string } }[] }
    expect(job.containers[0]!.command.join(' ')).toMatch(/redis-cli -h redis --rdb/)
    const claim = job.volumes[0]!.persistentVolumeClaim!.claimName
    expect(find(local, 'PersistentVolumeClaim', claim)).toBeDefined()
    expect(workloadViolations(backup, local)).toEqual([])
  })
})

describe('the components README', () => {
  it.each(readdirSync(join(k8s, 'components')))('%s has a README and a kustomization', (component) => {
    expect(readFileSync(join(k8s, 'components', component, 'README.md'), 'utf8')).toContain(`# ${component}`)
    expect(readYamlObjects(join(k8s, 'components', component, 'kustomization.yaml'))[0]!.kind).toBe('Component')
  })
})
