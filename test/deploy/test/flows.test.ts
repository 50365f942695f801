import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type K8sObject, renderKustomization, repoRoot } from '../src/kustomize.js'
import { type Endpoint, flows } from '../src/network-policy.js'
import { DEFAULT_CALLBACK_PORTS } from '@arrivals/callback-safety'
import { podTemplate } from '../src/policy.js'
import { containerEnvironment, serviceNames, topologyNames, type Env } from '../src/runtime.js'

/**
 * What actually flows in a rendered overlay, derived from the services' own settings (AMQP_URL,
 * REDIS_URL, ports) and checked against its NetworkPolicies; and KEDA watching the queues the
 * services really declare for the ConfigMap's NAMESPACE, with the operator's credentials.
 */
const k8s = join(repoRoot, 'k8s')
const overlays = readdirSync(join(k8s, 'overlays')).map((name) => `overlays/${name}`)
const rendered = overlays.map((overlay) => [overlay, renderKustomization(join(k8s, overlay))] as const)

// Secrets made outside the render (see settings.test.ts): only their shape matters here.
const external: Env = {
  'arrivals-secrets/CALLBACK_ENCRYPTION_KEY': 'x', 'arrivals-secrets/API_KEYS': 'x',
  'arrivals-rabbitmq-default-user/username': 'user', 'arrivals-rabbitmq-default-user/password': 'pass',
}
// The managed Redis endpoints the azure-cache-redis component documents: Azure Managed Redis, Azure Cache for Redis.
const managedRedisUrls = ['rediss://:key@contoso.westeurope.redis.azure.net:10000', 'rediss://:key@contoso.redis.cache.windows.net:6380']

const outside = {
  dns: { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
  // The retired managed NGINX's namespace: nothing there may reach the services any more.
  oldIngressController: { namespace: 'app-routing-system', labels: { app: 'nginx' } },
  internetClient: { namespace: '', ip: '81.2.69.160' },
  kedaOperator: { namespace: 'kube-system', labels: { app: 'keda-operator' } },
  rabbitmqOperator: { namespace: 'rabbitmq-system', labels: { 'app.kubernetes.io/name': 'rabbitmq-cluster-operator' } },
  aStoreSystem: { namespace: 'pos', labels: { app: 'till' }, namespaceLabels: { 'arrivals.example.com/inventory-client': 'true' } },
  flowCallback: { namespace: '', ip: '52.174.10.20' },
  privateHost: { namespace: '', ip: '10.1.2.3' },
  metadataService: { namespace: '', ip: '169.254.169.254' },
} satisfies Record<string, Endpoint>

function workload(objects: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((object) => object.kind === kind && object.metadata.name === name)
}
function pod(object: K8sObject): Endpoint {
  return { namespace: object.metadata.namespace!, labels: podTemplate(object).labels }
}
/** The RabbitmqCluster's pods carry app.kubernetes.io/name=<cluster> (set by the operator). */
function rabbitmqPod(cluster: K8sObject): Endpoint {
  return { namespace: cluster.metadata.namespace!, labels: { 'app.kubernetes.io/name': cluster.metadata.name, 'app.kubernetes.io/component': 'rabbitmq' } }
}
function port(url: URL, fallback: number): number {
  return url.port ? Number(url.port) : fallback
}

describe.each(rendered.filter(([, objects]) => objects.some((object) => object.kind === 'NetworkPolicy')))('k8s/%s NetworkPolicies', (_overlay, objects) => {
  const policies = objects.filter((object) => object.kind === 'NetworkPolicy')
  const cluster = objects.find((object) => object.kind === 'RabbitmqCluster')
  const redis = workload(objects, 'StatefulSet', 'redis')

  it.each(serviceNames)('%s reaches DNS, and RabbitMQ and Redis where its AMQP_URL and REDIS_URL point', (service) => {
    const deployment = workload(objects, 'Deployment', service)!
    const from = pod(deployment)
    // An overlay with a managed Redis reads REDIS_URL from a Secret: try both kinds of endpoint.
    const envs = managedRedisUrls.map((url) => containerEnvironment(deployment, objects, { ...external, 'arrivals-azure-redis/url': url }))
    const env = envs[0]!
    expect(flows(policies, from, outside.dns, 53, 'UDP')).toBe(true)
    expect(flows(policies, from, outside.dns, 53, 'TCP')).toBe(true)

    const amqp = new URL(env.AMQP_URL!)
    expect(cluster && amqp.hostname === cluster.metadata.name, `AMQP_URL ${amqp.host} is not the RabbitmqCluster's Service`).toBe(true)
    expect(flows(policies, from, rabbitmqPod(cluster!), port(amqp, 5672))).toBe(true)

    for (const url of [...new Set(envs.map((candidate) => candidate.REDIS_URL!))].map((text) => new URL(text))) {
      const to = url.hostname === 'redis' && redis ? pod(redis) : { namespace: '', ip: '20.50.60.70' }
      expect(flows(policies, from, to, port(url, 6379)), `${service} → ${url.host}`).toBe(true)
    }
    // Nothing else inside: no service talks to another, or to the node's metadata endpoint.
    expect(flows(policies, from, outside.metadataService, 80)).toBe(false)
    for (const other of serviceNames.filter((name) => name !== service)) {
      const target = workload(objects, 'Deployment', other)!
      expect(flows(policies, from, pod(target), 3001 + serviceNames.indexOf(other)), `${service} → ${other}`).toBe(false)
    }
  })

  it('lets the dispatcher post to public https callbacks only, and subscriptions fetch Entra ID keys', () => {
    const dispatcher = pod(workload(objects, 'Deployment', 'dispatcher')!)
    expect(flows(policies, dispatcher, outside.flowCallback, 443)).toBe(true)
    expect(flows(policies, dispatcher, outside.privateHost, 443)).toBe(false)
    expect(flows(policies, dispatcher, outside.flowCallback, 25)).toBe(false)
    expect(flows(policies, pod(workload(objects, 'Deployment', 'subscriptions')!), outside.flowCallback, 443)).toBe(true)
    expect(flows(policies, pod(workload(objects, 'Deployment', 'inventory')!), outside.flowCallback, 443)).toBe(false)
  })

  it('lets the Gateway\'s pods reach the connector API only, the internet reach the Gateway, and store systems reach inventory', () => {
    const containerPort = (name: string) => (podTemplate(workload(objects, 'Deployment', name)!).spec.containers[0] as unknown as { ports: { containerPort: number }[] }).ports[0]!.containerPort
    const gateway = objects.find((object) => object.kind === 'Gateway')!
    // The add-on's Istio runs the Gateway's pods in its namespace, labelled with its name.
    const gatewayPod: Endpoint = { namespace: gateway.metadata.namespace!, labels: { 'gateway.networking.k8s.io/gateway-name': gateway.metadata.name, 'istio.io/gateway-name': gateway.metadata.name } }
    const listenerPort = (gateway.spec as { listeners: { port: number }[] }).listeners[0]!.port
    expect(flows(policies, outside.internetClient, gatewayPod, listenerPort)).toBe(true)
    expect(flows(policies, outside.internetClient, gatewayPod, 15021)).toBe(false)
    expect(flows(policies, gatewayPod, pod(workload(objects, 'Deployment', 'subscriptions')!), containerPort('subscriptions'))).toBe(true)
    expect(flows(policies, gatewayPod, { namespace: 'aks-istio-system', labels: { app: 'istiod' } }, 15012)).toBe(true)
    expect(flows(policies, gatewayPod, pod(workload(objects, 'Deployment', 'dispatcher')!), containerPort('dispatcher'))).toBe(false)
    expect(flows(policies, gatewayPod, pod(workload(objects, 'Deployment', 'inventory')!), containerPort('inventory'))).toBe(false)
    expect(flows(policies, gatewayPod, outside.flowCallback, 443)).toBe(false)
    expect(flows(policies, outside.oldIngressController, pod(workload(objects, 'Deployment', 'subscriptions')!), containerPort('subscriptions'))).toBe(false)
    expect(flows(policies, outside.aStoreSystem, pod(workload(objects, 'Deployment', 'inventory')!), containerPort('inventory'))).toBe(true)
  })

  it('opens exactly CALLBACK_ALLOWED_PORTS to public callbacks: the services refuse every other port at subscribe time', () => {
    const deployment = workload(objects, 'Deployment', 'dispatcher')!
    const env = containerEnvironment(deployment, objects, { ...external, 'arrivals-azure-redis/url': managedRedisUrls[0]! })
    const allowed = env.CALLBACK_ALLOWED_PORTS ? env.CALLBACK_ALLOWED_PORTS.split(',').map(Number) : [...DEFAULT_CALLBACK_PORTS]
    const subscriptionsEnv = containerEnvironment(workload(objects, 'Deployment', 'subscriptions')!, objects, { ...external, 'arrivals-azure-redis/url': managedRedisUrls[0]! })
    expect(subscriptionsEnv.CALLBACK_ALLOWED_PORTS, 'subscriptions and the dispatcher agree').toBe(env.CALLBACK_ALLOWED_PORTS)
    // Every port any policy names, the allowed ones and the usual https alternatives: the dispatcher
    // reaches a public address on exactly the allowed ports (and the managed Redis ports).
    const named = JSON.stringify(policies).match(/"port":\d+/g)!.map((text) => Number(text.slice(7)))
    const redisPorts = managedRedisUrls.map((url) => Number(new URL(url).port))
    const candidates = [...new Set([...named, ...allowed, 80, 8080, 8443, 9443])]
    const open = candidates.filter((port) => flows(policies, pod(deployment), outside.flowCallback, port) && !redisPorts.includes(port))
    expect(open.sort((a, b) => a - b)).toEqual([...allowed].sort((a, b) => a - b))
  })

  it('lets KEDA and the operator reach RabbitMQ, and the RabbitMQ nodes reach each other', () => {
    if (!cluster) return
    const node = rabbitmqPod(cluster)
    expect(flows(policies, outside.kedaOperator, node, 5672)).toBe(true)
    expect(flows(policies, outside.rabbitmqOperator, node, 15672)).toBe(true)
    for (const clustering of [4369, 25672]) expect(flows(policies, node, node, clustering)).toBe(true)
  })
})

describe.each(rendered.filter(([, objects]) => objects.some((object) => object.kind === 'ScaledObject')))('k8s/%s KEDA', (_overlay, objects) => {
  const scaledObject = objects.find((object) => object.kind === 'ScaledObject')!
  type Trigger = { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }
  const { triggers, scaleTargetRef } = scaledObject.spec as { triggers: Trigger[]; scaleTargetRef: { name: string } }

  it('scales the dispatcher on the queues the services declare for the ConfigMap NAMESPACE', async () => {
    expect(scaleTargetRef.name).toBe('dispatcher')
    const env = containerEnvironment(workload(objects, 'Deployment', 'dispatcher')!, objects, { ...external, 'arrivals-azure-redis/url': managedRedisUrls[0]! })
    const names = topologyNames(env.NAMESPACE ?? 'arrivals')
    expect(triggers.map((trigger) => trigger.metadata.queueName).sort()).toEqual([names.deliveriesQueue, names.dispatcherEventsQueue].sort())
  })

  it('reaches the broker the services use, authenticated from the operator\'s default-user Secret', () => {
    const cluster = objects.find((object) => object.kind === 'RabbitmqCluster')!
    for (const trigger of triggers) {
      expect(trigger.type).toBe('rabbitmq')
      const host = new URL(trigger.metadata.host!)
      // KEDA runs in another namespace: the Service's namespaced name.
      expect(host.hostname).toBe(`${cluster.metadata.name}.${cluster.metadata.namespace}.svc.cluster.local`)
      expect(port(host, 5672)).toBe(5672)
      expect(host.username, 'credentials belong in the TriggerAuthentication').toBe('')
      const auth = objects.find((object) => object.kind === 'TriggerAuthentication' && object.metadata.name === trigger.authenticationRef?.name)
      const refs = (auth?.spec as { secretTargetRef?: { parameter: string; name: string; key: string }[] } | undefined)?.secretTargetRef ?? []
      expect(refs.map((ref) => `${ref.parameter}=${ref.name}/${ref.key}`).sort()).toEqual([
        `password=${cluster.metadata.name}-default-user/password`,
        `username=${cluster.metadata.name}-default-user/username`,
      ])
    }
  })
})
