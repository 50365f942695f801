import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { K8sObject } from './kustomize.js'

type Container = {
  name: string
  image?: string
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
  livenessProbe?: unknown
  readinessProbe?: unknown
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
    if (spec.containers.includes(container)) {
      if (!container.livenessProbe) problems.push(`${where}: no livenessProbe`)
      if (!container.readinessProbe) problems.push(`${where}: no readinessProbe`)
    }
    const security = container.securityContext ?? {}
    if (security.runAsNonRoot !== true && spec.securityContext?.runAsNonRoot !== true) problems.push(`${where}: runAsNonRoot is not true`)
    if (security.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`)
    if (security.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`)
    if (!security.capabilities?.drop?.includes('ALL')) problems.push(`${where}: capabilities do not drop ALL`)
    const image = container.image ?? ''
    if (!/@sha256:|:[\w.-]+$/.test(image.slice(image.lastIndexOf('/') + 1)) || image.endsWith(':latest')) problems.push(`${where}: image "${image}" is not pinned by tag or digest`)
  }
  const budgets = all.filter((object) => object.kind === 'PodDisruptionBudget' && object.metadata.namespace === workload.metadata.namespace)
  const covered = budgets.some((budget) => {
    const selector = (budget.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels ?? {}
    return Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value)
  })
  if (!covered) problems.push(`${name}: no PodDisruptionBudget selects its pods`)
  return problems
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

/** The usual Dockerfile mistakes: unpinned base, root at run time, shell-form CMD, no lockfile. */
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
