import type { K8sObject } from './kustomize.js'

/**
 * A small NetworkPolicy evaluator (networking.k8s.io/v1 semantics): a pod is isolated in a direction
 * when some policy in its namespace selects it with that policyType; then a connection is allowed
 * when some rule of those policies matches the peer and the port. A connection between two pods
 * needs the source's egress and the destination's ingress. IPv4 ipBlocks only.
 */
export interface Endpoint {
  namespace: string
  /** Pod labels; absent for an address outside the cluster. */
  labels?: Record<string, string>
  /** Labels of the pod's namespace besides kubernetes.io/metadata.name. */
  namespaceLabels?: Record<string, string>
  /** The pod's or the outside host's IPv4 address (ipBlock rules match only this). */
  ip?: string
}

type Expression = { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }
type Selector = { matchLabels?: Record<string, string>; matchExpressions?: Expression[] }
type Peer = { podSelector?: Selector; namespaceSelector?: Selector; ipBlock?: { cidr: string; except?: string[] } }
type Port = { protocol?: string; port?: number | string; endPort?: number }
type Rule = { to?: Peer[]; from?: Peer[]; ports?: Port[] }
type PolicySpec = { podSelector: Selector; policyTypes?: ('Ingress' | 'Egress')[]; ingress?: Rule[]; egress?: Rule[] }

export function selects(selector: Selector, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value)
  const byExpressions = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    if (operator === 'In') return key in labels && values.includes(labels[key]!)
    if (operator === 'NotIn') return !(key in labels) || !values.includes(labels[key]!)
    if (operator === 'Exists') return key in labels
    return !(key in labels)
  })
  return byLabels && byExpressions
}

function ipv4(address: string): number {
  return address.split('.').reduce((value, part) => value * 256 + Number(part), 0)
}

export function inCidr(address: string, cidr: string): boolean {
  const [network, bits] = cidr.split('/')
  const size = 2 ** (32 - Number(bits ?? 32))
  const start = Math.floor(ipv4(network!) / size) * size
  const value = ipv4(address)
  return value >= start && value < start + size
}

function peerMatches(peer: Peer, endpoint: Endpoint, policyNamespace: string): boolean {
  if (peer.ipBlock) {
    return endpoint.ip !== undefined && inCidr(endpoint.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((cidr) => inCidr(endpoint.ip!, cidr))
  }
  if (!endpoint.labels) return false
  const namespaceLabels = { ...endpoint.namespaceLabels, 'kubernetes.io/metadata.name': endpoint.namespace }
  const namespaceOk = peer.namespaceSelector ? selects(peer.namespaceSelector, namespaceLabels) : endpoint.namespace === policyNamespace
  return namespaceOk && (peer.podSelector ? selects(peer.podSelector, endpoint.labels) : true)
}

function portMatches(ports: Port[] | undefined, port: number, protocol: string): boolean {
  if (!ports?.length) return true
  return ports.some((candidate) => (candidate.protocol ?? 'TCP') === protocol
    && (candidate.port === undefined || (candidate.endPort ? port >= Number(candidate.port) && port <= candidate.endPort : Number(candidate.port) === port)))
}

function policyTypes(spec: PolicySpec): string[] {
  return spec.policyTypes ?? (spec.egress ? ['Ingress', 'Egress'] : ['Ingress'])
}

/** Whether `pod` may send to (`Egress`) or receive from (`Ingress`) `peer` on the port. */
export function allows(policies: K8sObject[], direction: 'Ingress' | 'Egress', pod: Endpoint, peer: Endpoint, port: number, protocol = 'TCP'): boolean {
  const applicable = policies.filter((policy) => {
    const spec = policy.spec as PolicySpec
    return policy.kind === 'NetworkPolicy' && policy.metadata.namespace === pod.namespace && selects(spec.podSelector, pod.labels ?? {}) && policyTypes(spec).includes(direction)
  })
  if (applicable.length === 0) return true
  return applicable.some((policy) => {
    const spec = policy.spec as PolicySpec
    const rules = (direction === 'Egress' ? spec.egress : spec.ingress) ?? []
    return rules.some((rule) => {
      const peers = direction === 'Egress' ? rule.to : rule.from
      return (!peers?.length || peers.some((candidate) => peerMatches(candidate, peer, policy.metadata.namespace!))) && portMatches(rule.ports, port, protocol)
    })
  })
}

/** A connection from one endpoint to another: egress at the source (if a pod), ingress at the destination (if a pod). */
export function flows(policies: K8sObject[], from: Endpoint, to: Endpoint, port: number, protocol = 'TCP'): boolean {
  const egress = from.labels ? allows(policies, 'Egress', from, to, port, protocol) : true
  const ingress = to.labels ? allows(policies, 'Ingress', to, from, port, protocol) : true
  return egress && ingress
}
