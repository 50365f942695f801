import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { K8sObject } from './kustomize.js'

type Container = {
  name: string
  image?: string
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
  livenessProbe?: unknown
  readinessProbe?: unknown
  startupProbe?: unknown
  securityContext?: { runAsNonRoot?: boolean; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } }
  env?: { name: string; value?: string }[]
  lifecycle?: { preStop?: { sleep?: { seconds: number } } }
}
export type PodSpec = { containers: Container[]; initContainers?: Container[]; securityContext?: { runAsNonRoot?: boolean }; terminationGracePeriodSeconds?: number }

export const workloadKinds = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'])

export function podTemplate(object: K8sObject): { labels: Record<string, string>; spec: PodSpec } {
  const spec = object.spec as { template?: { metadata?: { labels?: Record<string, string> }; spec: PodSpec }; jobTemplate?: { spec: { template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec } } } }
  const template = spec.template ?? spec.jobTemplate!.spec.template
  return { labels: template.metadata?.labels ?? {}, spec: template.spec }
}

/**
 * Every problem of one workload against the project's rules (issue 5): requests and limits,
 * liveness and readiness probes, non-root, read-only root filesystem, no privilege escalation, all
 * capabilities dropped, a pinned image, and a PodDisruptionBudget that selects its pods.
 */
export function workloadViolations(workload: K8sObject, all: K8sObject[]): string[] {
  const name = `${workload.kind}/${workload.metadata.name}`
  const { labels, spec } = podTemplate(workload)
  const problems: string[] = []
  for (const container of [...spec.containers, ...(spec.initContainers ?? [])]) {
    const where = `${name} container ${container.name}`
    for (const part of ['requests', 'limits'] as const) {
      for (const resource of ['cpu', 'memory']) {
        if (!container.resources?.[part]?.[resource]) problems.push(`${where}: no ${part}.${resource}`)
      }
    }
    if (spec.containers.includes(container) && longRunningKinds.has(workload.kind)) {
      if (!container.livenessProbe) problems.push(`${where}: no livenessProbe`)
      if (!container.readinessProbe) problems.push(`${where}: no readinessProbe`)
    }
    const security = container.securityContext ?? {}
    if (security.runAsNonRoot !== true && spec.securityContext?.runAsNonRoot !== true) problems.push(`${where}: runAsNonRoot is not true`)
    if (security.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`)
    if (security.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`)
    if (!security.capabilities?.drop?.includes('ALL')) problems.push(`${where}: capabilities do not drop ALL`)
    const image = container.image ?? ''
    if (!isPinnedImage(image)) problems.push(`${where}: image "${image}" is not pinned by a full version or digest`)
  }
  // A Job's pods run to completion: no probes to answer, nothing for a budget to protect.
  if (!longRunningKinds.has(workload.kind)) return problems
  const budgets = all.filter((object) => object.kind === 'PodDisruptionBudget' && object.metadata.namespace === workload.metadata.namespace)
  const covering = budgets.filter((budget) => {
    const selector = (budget.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels ?? {}
    return Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value)
  })
  if (covering.length === 0) problems.push(`${name}: no PodDisruptionBudget selects its pods`)
  for (const budget of covering) {
    if ((budget.spec as { unhealthyPodEvictionPolicy?: string }).unhealthyPodEvictionPolicy !== 'AlwaysAllow') {
      problems.push(`PodDisruptionBudget/${budget.metadata.name}: unhealthyPodEvictionPolicy is not AlwaysAllow (unready pods would block node drains)`)
    }
  }
  return problems
}

const longRunningKinds = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'])

/**
 * A digest, or a tag that names a full version (`7.4.5-alpine`, `4.1.4-management`): a moving tag
 * such as `7.4-alpine` or `latest` changes under a running cluster. Arrivals' own images (built from
 * this repository, `arrivals-<service>`) may carry any tag but `latest` (overlays/local uses `dev`).
 */
export function isPinnedImage(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true
  const [name, tag] = [image.slice(0, image.lastIndexOf(':')), image.slice(image.lastIndexOf(':') + 1)]
  if (!image.slice(image.lastIndexOf('/') + 1).includes(':') || tag === 'latest') return false
  if (/(^|\/)arrivals-[a-z]+$/.test(name)) return /^[\w.-]+$/.test(tag)
  return /^v?\d+\.\d+\.\d+([-+][\w.-]+)?$/.test(tag)
}

/** Memory quantities (`512Mi`, `1Gi`, `400M`, bytes) in MiB. */
export function mebibytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity)
  if (!match) throw new Error(`not a memory quantity: ${quantity}`)
  const factor: Record<string, number> = { '': 2 ** -20, Ki: 2 ** -10, Mi: 1, Gi: 2 ** 10, Ti: 2 ** 20, k: 1e3 / 2 ** 20, M: 1e6 / 2 ** 20, G: 1e9 / 2 ** 20, T: 1e12 / 2 ** 20 }
  return Number(match[1]) * factor[match[2] ?? '']!
}

/** CPU quantities (`500m`, `1`, `1.5`) in millicores. */
export function millicores(quantity: string): number {
  return quantity.endsWith('m') ? Number(quantity.slice(0, -1)) : Number(quantity) * 1000
}

/** The Deployments an autoscaler (KEDA ScaledObject or HorizontalPodAutoscaler) owns that still set `replicas`. */
export function autoscalerConflicts(objects: K8sObject[]): string[] {
  const scaled = objects.flatMap((object) => {
    if (object.kind === 'ScaledObject') return [(object.spec as { scaleTargetRef: { name: string; kind?: string } }).scaleTargetRef]
    if (object.kind === 'HorizontalPodAutoscaler') return [(object.spec as { scaleTargetRef: { name: string; kind?: string } }).scaleTargetRef]
    return []
  })
  return scaled.flatMap((target) => {
    const deployment = objects.find((object) => object.kind === (target.kind ?? 'Deployment') && object.metadata.name === target.name)
    if (!deployment) return [`an autoscaler targets ${target.kind ?? 'Deployment'}/${target.name}, which is not rendered`]
    return (deployment.spec as { replicas?: number }).replicas === undefined ? [] : [`${deployment.kind}/${deployment.metadata.name} sets replicas, which its autoscaler owns`]
  })
}

/** `--max-old-space-size=<MiB>` from a container's NODE_OPTIONS, if set. */
export function oldSpaceMebibytes(container: Container): number | undefined {
  const options = container.env?.find((entry) => entry.name === 'NODE_OPTIONS')?.value ?? ''
  const match = /--max-old-space-size=(\d+)/.exec(options)
  return match ? Number(match[1]) : undefined
}

/** The dispatcher's worst-case shutdown: preStop pause, then DRAIN_TIMEOUT_MS, then its hard-exit margin. */
export const dispatcherHardExitMarginMs = 15_000

export function envValue(workload: K8sObject, all: K8sObject[], name: string): string | undefined {
  const container = podTemplate(workload).spec.containers[0]!
  const direct = container.env?.find((entry) => entry.name === name)?.value
  if (direct !== undefined) return direct
  const envFrom = (container as { envFrom?: { configMapRef?: { name: string } }[] }).envFrom ?? []
  for (const source of envFrom) {
    const map = all.find((object) => object.kind === 'ConfigMap' && object.metadata.name === source.configMapRef?.name)
    const value = (map?.data as Record<string, string> | undefined)?.[name]
    if (value !== undefined) return value
  }
  return undefined
}

// --- Dockerfile -----------------------------------------------------------------------------

export interface Instruction { keyword: string; args: string; line: number }

/** Instructions with continuation lines joined and comments dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = []
  let pending = ''
  let start = 0
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim()
    if (!pending && (line === '' || line.startsWith('#'))) return
    if (!pending) start = index + 1
    if (line.startsWith('#')) return
    pending += (pending ? ' ' : '') + line.replace(/\\$/, '').trim()
    if (line.endsWith('\\')) return
    const [keyword, ...rest] = pending.split(/\s+/)
    instructions.push({ keyword: keyword!.toUpperCase(), args: rest.join(' '), line: start })
    pending = ''
  })
  return instructions
}

/** The usual Dockerfile mistakes: unpinned base, root at run time, shell-form CMD, no lockfile, npm at run time. */
export function dockerfileViolations(text: string): string[] {
  const instructions = parseDockerfile(text)
  const problems: string[] = []
  const args = new Map<string, string>()
  for (const { keyword, args: value } of instructions) {
    if (keyword === 'ARG') {
      const [name, fallback] = value.split('=')
      if (fallback !== undefined && !args.has(name!)) args.set(name!, fallback)
    }
  }
  const stages = instructions.filter((instruction) => instruction.keyword === 'FROM')
  if (stages.length < 2) problems.push('not multi-stage: build tools would ship in the runtime image')
  const stageNames = new Set(stages.map((stage) => /\bAS\s+(\S+)/i.exec(stage.args)?.[1]).filter(Boolean))
  for (const stage of stages) {
    const reference = stage.args.split(/\s+/).find((word) => !word.startsWith('--'))!
    const image = reference.replace(/\$\{?(\w+)\}?/g, (_match, name: string) => args.get(name) ?? '')
    if (stageNames.has(image)) continue
    if (!image) problems.push(`line ${stage.line}: FROM ${reference} has no default`)
    else if (!/@sha256:[0-9a-f]{64}$/.test(image) && !/:\d+\.\d+(\.\d+)?[\w.-]*$/.test(image)) {
      problems.push(`line ${stage.line}: base image "${image}" is not pinned to a version tag or digest`)
    }
  }
  const lastFrom = instructions.lastIndexOf(stages.at(-1)!)
  const runtime = instructions.slice(lastFrom)
  const user = runtime.filter((instruction) => instruction.keyword === 'USER').at(-1)
  if (!user) problems.push('the runtime stage has no USER: the process would run as root')
  else if (/^(root|0)(:|$)/.test(user.args)) problems.push(`line ${user.line}: USER ${user.args} is root`)
  const cmd = runtime.filter((instruction) => instruction.keyword === 'CMD' || instruction.keyword === 'ENTRYPOINT').at(-1)
  if (!cmd) problems.push('the runtime stage has no CMD')
  else if (!cmd.args.startsWith('[')) problems.push(`line ${cmd.line}: ${cmd.keyword} is in shell form: node would not receive SIGTERM`)
  else if (/"(sh|bash|\/bin\/sh)"/.test(cmd.args)) problems.push(`line ${cmd.line}: ${cmd.keyword} runs a shell: node would not receive SIGTERM`)
  // Release builds pin the base by digest through one ARG (see the Dockerfile's header): every stage
  // built on an outside image must use that same reference, or the digest would pin only some.
  const bases = new Set(stages.map((stage) => stage.args.split(/\s+/).find((word) => !word.startsWith('--'))!).filter((reference) => !stageNames.has(reference)))
  if (bases.size > 1) problems.push(`the stages start from different base images (${[...bases].join(', ')}): one digest could not pin them all`)
  const runtimeCommands = runtime.filter((instruction) => instruction.keyword === 'RUN').flatMap((instruction) => instruction.args.split(/&&|;|\|\|/).map((command) => command.trim()))
  for (const command of runtimeCommands) {
    if (/^(npm|npx|pnpm|yarn|corepack)\b/.test(command)) problems.push(`the runtime stage runs "${command}": packages belong in the build stage`)
  }
  if (!runtimeCommands.some((command) => /^rm\b.*\/usr\/local\/lib\/node_modules(\s|$)/.test(command) && /\/usr\/local\/bin\/npm\b/.test(command))) {
    problems.push('the runtime stage keeps npm (remove /usr/local/lib/node_modules and /usr/local/bin/npm, npx, corepack)')
  }
  const runs = instructions.filter((instruction) => instruction.keyword === 'RUN').map((instruction) => instruction.args)
  if (!instructions.some((instruction) => instruction.keyword === 'COPY' && instruction.args.includes('pnpm-lock.yaml'))) problems.push('the lockfile (pnpm-lock.yaml) is never copied')
  if (!runs.some((run) => /pnpm (install|i)\b.*--frozen-lockfile/.test(run))) problems.push('pnpm install is not run with --frozen-lockfile')
  if (instructions.some((instruction) => instruction.keyword === 'ADD' && /https?:\/\//.test(instruction.args))) problems.push('ADD of a URL: use a pinned package instead')
  if (runs.some((run) => /\bsudo\b/.test(run))) problems.push('sudo in a RUN instruction')
  return problems
}

// --- settings the services read ---------------------------------------------------------------

/** Environment variable names a service's src/settings.ts (and service-kit's common settings) read. */
export function settingsRead(root: string, service: string): Set<string> {
  const names = new Set<string>()
  for (const file of [join(root, 'packages/service-kit/src/settings.ts'), join(root, `services/${service}/src/settings.ts`)]) {
    const source = readFileSync(file, 'utf8')
    // A read is a call whose first argument is the quoted name: read.string('NAME', …), count('NAME', …).
    for (const match of source.matchAll(/\w+\(\s*'([A-Z][A-Z0-9_]*)'/g)) names.add(match[1]!)
  }
  return names
}
