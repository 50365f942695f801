import { readdirSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { clusterScoped, findKubectl, type K8sObject, readYamlObjects, renderKustomization, renderWithKubectl, repoRoot } from '../src/kustomize.js'
import { dispatcherHardExitMarginMs, envValue, podTemplate, settingsRead, workloadKinds, workloadViolations } from '../src/policy.js'
import { validateObject } from '../src/validate.js'

const k8s = join(repoRoot, 'k8s')
const overlays = readdirSync(join(k8s, 'overlays')).map((name) => `overlays/${name}`)
const targets = ['base', ...overlays]
const components = readdirSync(join(k8s, 'components'))
const kubectl = findKubectl()
const services = ['inventory', 'subscriptions', 'dispatcher']

const key = (object: K8sObject) => `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`
const sorted = (objects: K8sObject[]) => [...objects].sort((a, b) => key(a).localeCompare(key(b)))
const rendered = new Map(targets.map((target) => [target, renderKustomization(join(k8s, target))]))

describe('k8s/ renders', () => {
  it('has the overlays DESIGN.md names, and every component is enabled by some overlay', () => {
    expect(overlays).toEqual(expect.arrayContaining(['overlays/aks', 'overlays/local']))
    const enabled = overlays.flatMap((overlay) => {
      const [kustomization] = readYamlObjects(join(k8s, overlay, 'kustomization.yaml')) as unknown as { components?: string[] }[]
      return (kustomization!.components ?? []).map((path) => relative(join(k8s, 'components'), resolve(k8s, overlay, path)))
    })
    expect(components.filter((component) => !enabled.includes(component))).toEqual([])
    const [aks] = readYamlObjects(join(k8s, 'overlays/aks/kustomization.yaml')) as unknown as { components: string[] }[]
    expect(aks!.components.map((path) => path.split('/').at(-1))).toEqual(expect.arrayContaining(['rabbitmq-operator', 'keda-dispatcher', 'network-policies', 'gateway-app-routing', 'zones', 'keyvault-secrets']))
  })

  it.each(targets)('%s renders, the same with kubectl kustomize when kubectl is on the PATH', (target) => {
    const objects = rendered.get(target)!
    expect(objects.length).toBeGreaterThan(5)
    expect(new Set(objects.map(key)).size).toBe(objects.length)
    if (kubectl) expect(sorted(objects)).toEqual(sorted(renderWithKubectl(kubectl, join(k8s, target))))
  })
})

describe.each(targets)('%s', (target) => {
  const objects = rendered.get(target)!
  const workloads = objects.filter((object) => workloadKinds.has(object.kind))

  it('every object is valid against its Kubernetes (or KEDA, or RabbitMQ operator) schema', async () => {
    const failures: string[] = []
    for (const object of objects) await validateObject(object).catch((error: Error) => failures.push(`${key(object)}: ${error.message}`))
    expect(failures).toEqual([])
  })

  it('every workload has requests and limits, probes, a non-root read-only securityContext, a pinned image and a PDB', () => {
    expect(workloads.length).toBeGreaterThanOrEqual(3)
    expect(workloads.flatMap((workload) => workloadViolations(workload, objects))).toEqual([])
  })

  it('every object is in the arrivals namespace (or is the namespace, or cluster-scoped like a StorageClass)', () => {
    expect(objects.filter((object) => !clusterScoped.has(object.kind) && object.metadata.namespace !== 'arrivals').map(key)).toEqual([])
  })

  it('the services probe /healthz and /readyz on their own port, and the dispatcher outlives its drain deadline', () => {
    for (const [index, service] of services.entries()) {
      const deployment = workloads.find((workload) => workload.kind === 'Deployment' && workload.metadata.name === service)!
      const container = podTemplate(deployment).spec.containers[0] as unknown as Record<string, { httpGet?: { path: string } }> & { ports: { containerPort: number }[] }
      expect(container.livenessProbe!.httpGet!.path).toBe('/healthz')
      expect(container.readinessProbe!.httpGet!.path).toBe('/readyz')
      expect(container.ports[0]!.containerPort).toBe(3001 + index)
      expect(envValue(deployment, objects, 'PORT')).toBe(String(3001 + index))
    }
    const dispatcher = workloads.find((workload) => workload.metadata.name === 'dispatcher')!
    const { spec } = podTemplate(dispatcher)
    const drainMs = Number(envValue(dispatcher, objects, 'DRAIN_TIMEOUT_MS') ?? 10_000)
    const preStopMs = (spec.containers[0]!.lifecycle?.preStop?.sleep?.seconds ?? 0) * 1000
    expect(spec.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(preStopMs + drainMs + dispatcherHardExitMarginMs)
  })

  it('sets only settings the services read', () => {
    const unknown: string[] = []
    for (const service of services) {
      const reads = settingsRead(repoRoot, service)
      const deployment = workloads.find((workload) => workload.metadata.name === service)!
      const container = podTemplate(deployment).spec.containers[0]!
      // RABBITMQ_USERNAME/PASSWORD only feed $(…) in AMQP_URL; NODE_OPTIONS is read by node itself.
      const helpers = new Set(['NODE_OPTIONS', ...(container.env ?? []).filter((entry) => (container.env ?? []).some((other) => other.value?.includes(`$(${entry.name})`))).map((entry) => entry.name)])
      for (const entry of container.env ?? []) if (!reads.has(entry.name) && !helpers.has(entry.name)) unknown.push(`${service}: ${entry.name}`)
    }
    const everyRead = new Set(services.flatMap((service) => [...settingsRead(repoRoot, service)]))
    for (const object of objects.filter((candidate) => ['ConfigMap', 'Secret'].includes(candidate.kind) && candidate.metadata.name.startsWith('arrivals-'))) {
      const data = { ...(object.data as object | undefined), ...(object.stringData as object | undefined) }
      for (const name of Object.keys(data)) if (!everyRead.has(name)) unknown.push(`${key(object)}: ${name}`)
    }
    expect(unknown).toEqual([])
  })
})

describe('the policy check', () => {
  const base = rendered.get('base')!
  const inventory = base.find((object) => object.kind === 'Deployment' && object.metadata.name === 'inventory')!

  it('fails a Deployment without probes or limits, running as root, without a PDB', () => {
    const careless = structuredClone(inventory)
    careless.metadata.name = 'careless'
    const { spec, labels } = podTemplate(careless)
    labels.app = 'careless'
    const container = spec.containers[0]!
    delete container.livenessProbe
    delete container.readinessProbe
    delete container.resources!.limits
    container.securityContext = {}
    delete spec.securityContext
    container.image = 'careless'
    const problems = workloadViolations(careless, base)
    for (const expected of ['no livenessProbe', 'no readinessProbe', 'no limits.cpu', 'no limits.memory', 'runAsNonRoot', 'readOnlyRootFilesystem', 'allowPrivilegeEscalation', 'drop ALL', 'not pinned', 'no PodDisruptionBudget']) {
      expect(problems.join('\n')).toContain(expected)
    }
    expect(workloadViolations(inventory, base)).toEqual([])
  })
})
