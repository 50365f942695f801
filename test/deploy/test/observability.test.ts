import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { createNamespace, freePort, spawnService, type ServiceProcess } from '@arrivals/test-kit'
import { azureRuleGroupTemplate, isoDuration, type PrometheusRuleFile } from '../src/azure-rule-group.js'
import { renderKustomization, repoRoot, type K8sObject } from '../src/kustomize.js'
import { flows } from '../src/network-policy.js'
import { podTemplate } from '../src/policy.js'
import { exposedNames, metricNames } from '../src/promql.js'
import { composeEnvironment, readSettingsOf, serviceNames, statusWhenReady } from '../src/runtime.js'

/**
 * What operators see (deploy/observability, k8s/components/observability): the alert rules pass
 * promtool, every metric a rule or a dashboard panel reads is one the built services export (or
 * RabbitMQ's, from a listed set), compose provisions Prometheus and Grafana with exactly these
 * files, and the AKS overlay scrapes the three services and RabbitMQ.
 */
const observability = join(repoRoot, 'deploy/observability')
const rulesPath = join(observability, 'prometheus/arrivals-rules.yaml')
const rules = parse(readFileSync(rulesPath, 'utf8')) as PrometheusRuleFile
const dashboard = JSON.parse(readFileSync(join(observability, 'grafana/arrivals.json'), 'utf8')) as Dashboard
type Panel = { id: number; type: string; title: string; datasource?: { uid: string }; targets?: { expr: string }[]; gridPos: { x: number; y: number; w: number; h: number } }
type Dashboard = { uid: string; panels: Panel[]; templating: { list: { name: string; current: { value: string } }[] } }

const ruleExpressions = rules.groups.flatMap((group) => group.rules.map((rule) => ({ where: `rule ${rule.alert}`, expr: rule.expr })))
const panelExpressions = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr })))

/**
 * RabbitMQ's own metrics that the rules and panels read: the rabbitmq_prometheus plugin's
 * `/metrics/detailed` endpoint, families queue_coarse_metrics (messages, ready, unacked) and
 * queue_consumer_count (consumers), as the scrape configurations ask for them. Not scraped here:
 * the shared test broker does not run the plugin; names from RabbitMQ's Prometheus documentation.
 */
const rabbitmqMetrics = new Set([
  'rabbitmq_detailed_queue_messages', 'rabbitmq_detailed_queue_messages_ready', 'rabbitmq_detailed_queue_messages_unacked',
  'rabbitmq_detailed_queue_consumers',
])

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8' })
  if (result.error) throw new Error(`promtool not found (${result.error.message}): install Debian's "prometheus" package (.ci/run does)`)
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

describe('the alert rules', () => {
  it('pass promtool check rules, and a broken rule does not', () => {
    const checked = promtool('check', 'rules', rulesPath)
    expect(checked.output).toContain('SUCCESS')
    expect(checked.status).toBe(0)
    const broken = join(repoRoot, 'test/deploy/test/fixtures/broken-rules.yaml')
    expect(promtool('check', 'rules', broken).status).not.toBe(0)
  })

  it('pass their unit tests (promtool test rules): each alert fires when it should and not before', () => {
    const tested = promtool('test', 'rules', join(observability, 'prometheus/arrivals-rules.test.yaml'))
    expect(tested.output).toContain('SUCCESS')
    expect(tested.status).toBe(0)
  })

  it('cover consumers down, dead letters growing, circuits open for long, queue depth growing and p99 over target', () => {
    const alerts = rules.groups.flatMap((group) => group.rules.map((rule) => ({ alert: rule.alert!, expr: rule.expr, for: rule.for, labels: rule.labels ?? {} })))
    const reading = (metric: string) => alerts.filter((rule) => metricNames(rule.expr).includes(metric)).map((rule) => rule.alert)
    expect(reading('rabbitmq_detailed_queue_consumers')).not.toEqual([])
    expect(reading('dispatcher_consumer_up')).not.toEqual([])
    expect(reading('dispatcher_dead_letters_total')).not.toEqual([])
    expect(reading('dispatcher_open_circuits')).not.toEqual([])
    expect(reading('rabbitmq_detailed_queue_messages_ready')).not.toEqual([])
    expect(alerts.filter((rule) => rule.expr.includes('histogram_quantile(0.99')).length).toBeGreaterThanOrEqual(1)
    for (const rule of alerts) expect(['critical', 'warning'], rule.alert).toContain(rule.labels.severity)
  })
})

describe('metric names', () => {
  it('are read from PromQL without functions, keywords, labels, ranges or Grafana variables', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{route="/v1/x", le!="+Inf"}[$__rate_interval])))')).toEqual(['http_request_duration_seconds_bucket'])
    expect(metricNames('count(up{job="a"} == 0) or vector(0) and on(instance) node_load1 > 1e3')).toEqual(['up', 'node_load1'])
    expect(metricNames('rabbitmq_detailed_queue_consumers{queue=~"$namespace\\\\.deliveries"} == 0 unless ignoring(queue) foo offset 5m')).toEqual(['rabbitmq_detailed_queue_consumers', 'foo'])
    expect(exposedNames('# HELP a_seconds x\n# TYPE a_seconds histogram\n# TYPE b_total counter\nb_total 1\n')).toEqual(new Set(['a_seconds', 'a_seconds_bucket', 'a_seconds_sum', 'a_seconds_count', 'b_total']))
  })
})

describe('every metric a rule or a panel reads', () => {
  const ns = createNamespace('observability')
  const running: ServiceProcess[] = []
  const exported = new Set<string>()
  let retryDelaysMs: number[] = []

  beforeAll(async () => {
    // The built services as compose configures them, each scraped once it is ready.
    for (const service of serviceNames) {
      const port = await freePort()
      const env = { ...composeEnvironment(service), AMQP_URL: ns.amqpUrl, REDIS_URL: ns.redisUrl, NAMESPACE: ns.namespace, HOST: '127.0.0.1', PORT: String(port) }
      const settings = (await readSettingsOf(service))(env)
      if (service === 'dispatcher') retryDelaysMs = settings.retryScheduleMs as number[]
      const process = spawnService(join(repoRoot, 'services', service, 'dist/server.js'), env)
      running.push(process)
      const ready = await Promise.race([statusWhenReady(`http://127.0.0.1:${port}/readyz`), process.exited.then(() => -1)])
      expect(ready, `${service}: ${process.output()}`).toBe(200)
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`)
      expect(metrics.status).toBe(200)
      for (const name of exposedNames(await metrics.text())) exported.add(name)
    }
  })

  afterAll(async () => {
    for (const process of running) await process.stop()
    await ns.cleanup({ retryDelaysMs })
  })

  it.each([['an alert rule', ruleExpressions], ['a dashboard panel', panelExpressions]] as const)('in %s is exported by a service or is RabbitMQ\'s', (_kind, expressions) => {
    expect(expressions.length).toBeGreaterThan(5)
    const unknown = expressions.flatMap(({ where, expr }) => metricNames(expr).filter((name) => !exported.has(name) && !rabbitmqMetrics.has(name)).map((name) => `${where}: ${name}`))
    expect(unknown).toEqual([])
  })

  it('is checked against a real scrape (a name no service exports is caught)', () => {
    expect(exported.has('dispatcher_deliveries_total')).toBe(true)
    expect(exported.has('inventory_events_published_total')).toBe(true)
    expect(exported.has('http_request_duration_seconds_bucket')).toBe(true)
    expect(exported.has('dispatcher_deliveries_count')).toBe(false)
  })
})

describe('the Grafana dashboard', () => {
  it('shows receipts, deliveries by outcome, latency percentiles, retries by tier, dead letters by class, open circuits, queue depth and consumers', () => {
    const read = (metric: string) => panelExpressions.filter(({ expr }) => metricNames(expr).includes(metric)).map(({ where }) => where)
    for (const metric of ['inventory_events_published_total', 'dispatcher_open_circuits', 'rabbitmq_detailed_queue_messages_ready', 'rabbitmq_detailed_queue_consumers', 'dispatcher_consumer_up']) {
      expect(read(metric), metric).not.toEqual([])
    }
    const grouped = (metric: string, label: string) => panelExpressions.some(({ expr }) => metricNames(expr).includes(metric) && new RegExp(`by \\((\\w+, )*${label}\\b`).test(expr))
    expect(grouped('dispatcher_deliveries_total', 'outcome')).toBe(true)
    expect(grouped('dispatcher_retries_total', 'tier')).toBe(true)
    expect(grouped('dispatcher_dead_letters_total', 'class')).toBe(true)
    expect(panelExpressions.some(({ expr }) => expr.includes('/v1/stores/:storeId/receipts'))).toBe(true)
    for (const quantile of ['0.5', '0.95', '0.99']) expect(panelExpressions.some(({ expr }) => expr.startsWith(`histogram_quantile(${quantile}, `)), quantile).toBe(true)
  })

  it('has unique panel ids, panels inside the 24-column grid that never overlap, and every query on the chosen data source', () => {
    const { panels } = dashboard
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length)
    const cells = new Set<string>()
    for (const { title, gridPos: { x, y, w, h } } of panels) {
      expect(x + w, title).toBeLessThanOrEqual(24)
      for (let row = y; row < y + h; row++) for (let column = x; column < x + w; column++) {
        expect(cells.has(`${row}:${column}`), `${title} overlaps at ${row}:${column}`).toBe(false)
        cells.add(`${row}:${column}`)
      }
    }
    for (const panel of panels.filter((candidate) => candidate.type !== 'row')) expect(panel.datasource?.uid, panel.title).toBe('${datasource}')
  })
})

describe('the compose observability profile', () => {
  type Service = { profiles?: string[]; image: string; ports?: string[]; volumes?: string[]; depends_on?: Record<string, unknown> }
  const compose = parse(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> }
  const prometheusConfig = parse(readFileSync(join(observability, 'prometheus/prometheus.yml'), 'utf8')) as {
    rule_files: string[]
    scrape_configs: { job_name: string; metrics_path?: string; params?: Record<string, string[]>; static_configs?: { targets: string[] }[]; dns_sd_configs?: { names: string[]; port: number }[] }[]
  }
  const mounts = (service: string) => Object.fromEntries((compose.services[service]!.volumes ?? []).map((volume) => {
    const [source, target] = volume.split(':')
    return [target!, source!]
  }))

  it('runs Prometheus and Grafana only with --profile observability, pinned, published on 127.0.0.1', () => {
    const profiled = Object.entries(compose.services).filter(([, service]) => service.profiles?.includes('observability')).map(([name]) => name)
    expect(profiled.sort()).toEqual(['grafana', 'prometheus'])
    expect(compose.services.prometheus!.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/)
    expect(compose.services.grafana!.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/)
    expect(compose.services.prometheus!.ports).toEqual(['127.0.0.1:9090:9090'])
    expect(compose.services.grafana!.ports).toEqual(['127.0.0.1:3000:3000'])
  })

  it('mounts the committed configuration, rules, provisioning and dashboard, at the paths they name', () => {
    for (const service of ['prometheus', 'grafana']) {
      for (const source of Object.values(mounts(service))) expect(existsSync(join(repoRoot, source)), source).toBe(true)
    }
    expect(mounts('prometheus')['/etc/prometheus/prometheus.yml']).toBe('./deploy/observability/prometheus/prometheus.yml')
    expect(prometheusConfig.rule_files.map((file) => mounts('prometheus')[file])).toEqual(['./deploy/observability/prometheus/arrivals-rules.yaml'])
    const provider = parse(readFileSync(join(observability, 'grafana/provisioning/dashboards/arrivals.yaml'), 'utf8')) as { providers: { options: { path: string } }[] }
    expect(mounts('grafana')[`${provider.providers[0]!.options.path}/arrivals.json`]).toBe('./deploy/observability/grafana/arrivals.json')
    const datasources = parse(readFileSync(join(observability, 'grafana/provisioning/datasources/prometheus.yaml'), 'utf8')) as { datasources: { uid: string; url: string }[] }
    const chosen = dashboard.templating.list.find((variable) => variable.name === 'datasource')!
    expect(datasources.datasources.map((source) => source.uid)).toContain(chosen.current.value)
    expect(datasources.datasources[0]!.url).toBe('http://prometheus:9090')
  })

  it('scrapes each service on its compose PORT, every dispatcher replica, and RabbitMQ\'s per-queue metrics', () => {
    const arrivals = prometheusConfig.scrape_configs.find((job) => job.job_name === 'arrivals')!
    const targets = [...arrivals.static_configs!.flatMap((config) => config.targets), ...arrivals.dns_sd_configs!.flatMap((config) => config.names.map((name) => `${name}:${config.port}`))]
    expect(targets.sort()).toEqual(serviceNames.map((service) => `${service}:${composeEnvironment(service).PORT}`).sort())
    const rabbitmq = prometheusConfig.scrape_configs.find((job) => job.job_name === 'rabbitmq')!
    expect(rabbitmq.metrics_path).toBe('/metrics/detailed')
    expect(rabbitmq.params!.family!.sort()).toEqual(['queue_coarse_metrics', 'queue_consumer_count'])
    expect(rabbitmq.static_configs![0]!.targets).toEqual(['rabbitmq:15692'])
  })
})

describe('k8s/components/observability in the AKS overlay', () => {
  const aks = renderKustomization(join(repoRoot, 'k8s/overlays/aks'))
  type Monitor = K8sObject & { spec: { selector: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values: string[] }[] }; endpoints: { port: string; path: string; params?: Record<string, string[]> }[] } }
  const monitors = aks.filter((object) => object.kind === 'ServiceMonitor') as Monitor[]

  it('has ServiceMonitors in the group Azure Monitor managed Prometheus reads', () => {
    expect(monitors.map((monitor) => monitor.apiVersion)).toEqual(['azmonitoring.coreos.com/v1', 'azmonitoring.coreos.com/v1'])
  })

  it('selects the three services\' Services, on a port they name, at /metrics', () => {
    const [services] = monitors.filter((monitor) => monitor.metadata.name === 'arrivals-services')
    const selected = aks.filter((object) => object.kind === 'Service' && services!.spec.selector.matchExpressions!.every(({ key, operator, values }) => operator === 'In' && values.includes(object.metadata.labels?.[key] ?? '')))
    expect(selected.map((service) => service.metadata.name).sort()).toEqual([...serviceNames].sort())
    for (const service of selected) {
      const ports = (service.spec as { ports: { name: string }[] }).ports.map((port) => port.name)
      for (const endpoint of services!.spec.endpoints) expect(ports, service.metadata.name).toContain(endpoint.port)
    }
    expect(services!.spec.endpoints.map((endpoint) => endpoint.path)).toEqual(['/metrics'])
  })

  it('selects the Service the RabbitMQ operator makes for the cluster, on its prometheus port, per queue', () => {
    const [rabbitmq] = monitors.filter((monitor) => monitor.metadata.name === 'arrivals-rabbitmq')
    const cluster = aks.find((object) => object.kind === 'RabbitmqCluster')!
    // The operator labels the client Service it creates with the cluster's name (it is not in the render).
    expect(rabbitmq!.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': cluster.metadata.name, 'app.kubernetes.io/component': 'rabbitmq' })
    expect(rabbitmq!.spec.endpoints).toEqual([expect.objectContaining({ port: 'prometheus', path: '/metrics/detailed', params: { family: ['queue_coarse_metrics', 'queue_consumer_count'] } })])
  })

  it('lets Azure\'s managed Prometheus (ama-metrics in kube-system) through the NetworkPolicies to every port it scrapes', () => {
    const policies = aks.filter((object) => object.kind === 'NetworkPolicy')
    expect(policies.length).toBeGreaterThan(0)
    const amaMetrics = { namespace: 'kube-system', labels: { rsName: 'ama-metrics' } }
    const elsewhere = { namespace: 'default', labels: { app: 'curious' } }
    for (const service of serviceNames) {
      const deployment = aks.find((object) => object.kind === 'Deployment' && object.metadata.name === service)!
      const pod = { namespace: deployment.metadata.namespace!, labels: podTemplate(deployment).labels }
      const port = (podTemplate(deployment).spec.containers[0] as unknown as { ports: { containerPort: number }[] }).ports[0]!.containerPort
      expect(flows(policies, amaMetrics, pod, port), service).toBe(true)
      expect(flows(policies, elsewhere, pod, port), service).toBe(false)
    }
    const cluster = aks.find((object) => object.kind === 'RabbitmqCluster')!
    const rabbitmq = { namespace: cluster.metadata.namespace!, labels: { 'app.kubernetes.io/name': cluster.metadata.name, 'app.kubernetes.io/component': 'rabbitmq' } }
    expect(flows(policies, amaMetrics, rabbitmq, 15692)).toBe(true)
    expect(flows(policies, elsewhere, rabbitmq, 15692)).toBe(false)
  })

  it('ships the alert rules as an Azure Monitor rule group template generated from the rule file (vitest -u regenerates it)', async () => {
    expect(isoDuration('15m')).toBe('PT15M')
    expect(isoDuration('1h30m')).toBe('PT1H30M')
    expect(() => isoDuration('1d')).toThrow('unsupported duration')
    const template = azureRuleGroupTemplate(rules)
    await expect(`${JSON.stringify(template, null, 2)}\n`).toMatchFileSnapshot(join(repoRoot, 'k8s/components/observability/arrivals-rule-groups.json'))
    const resources = template.resources as { properties: { rules: { alert: string; expression: string }[] } }[]
    expect(resources.flatMap((resource) => resource.properties.rules.map((rule) => rule.expression))).toEqual(ruleExpressions.map(({ expr }) => expr.trim()))
  })
})
