import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { spawnService, type ServiceProcess } from '@arrivals/test-kit'
import { parse } from 'yaml'
import { type K8sObject, repoRoot } from './kustomize.js'
import { parseDockerfile } from './policy.js'

/**
 * What the deploy tests need at run time: the services' own settings parsers (from their built
 * `dist`, as `pnpm test` builds first), the topology names (contracts), the compose environment, and the Dockerfile's
 * steps, so an image can be assembled and started without Docker exactly as its build would.
 */
export const serviceNames = ['inventory', 'subscriptions', 'dispatcher'] as const
export type ServiceName = typeof serviceNames[number]
export type Env = Record<string, string>

/** The service's `readSettings` (throws a SettingsError listing every problem). */
export async function readSettingsOf(service: ServiceName): Promise<(env: Env) => Record<string, unknown>> {
  const module = await import(pathToFileURL(join(repoRoot, 'services', service, 'dist/settings.js')).href) as { readSettings: (env: Env) => Record<string, unknown> }
  return module.readSettings
}

/** The broker names every service declares for a NAMESPACE. */
export { topologyNames } from '@arrivals/contracts'

// --- docker-compose.yml ------------------------------------------------------------------------

type ComposeService = { environment?: Record<string, string>; ports?: string[] }
export const compose = parse(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> }

/** `${NAME:-default}` → default, `${NAME}` → '': what compose passes when the shell sets nothing. */
export function composeDefault(value: string): string {
  return value.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_match, _name: string, fallback: string | undefined) => fallback ?? '')
}

export function composeEnvironment(service: string): Env {
  return Object.fromEntries(Object.entries(compose.services[service]?.environment ?? {}).map(([name, value]) => [name, composeDefault(String(value))]))
}

// --- Dockerfile ---------------------------------------------------------------------------------

export interface ImagePlan {
  /** The build stage's RUN commands that produce `/out` (the folder the runtime stage copies). */
  outputCommands: string[]
  /** The runtime stage's ENV. */
  env: Env
  /** The runtime stage's exec-form CMD. */
  cmd: string[]
}

export function imagePlan(text = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')): ImagePlan {
  const instructions = parseDockerfile(text)
  const stages = instructions.flatMap((instruction, index) => (instruction.keyword === 'FROM' ? [index] : []))
  const runtime = instructions.slice(stages.at(-1))
  const copy = runtime.find((instruction) => instruction.keyword === 'COPY' && instruction.args.startsWith('--from='))
  const source = copy?.args.split(/\s+/)[1]
  if (source !== '/out') throw new Error(`the runtime stage must COPY --from=build /out (found "${copy?.args ?? 'nothing'}")`)
  const build = instructions.slice(0, stages.at(-1))
  const outputCommands = build.filter((instruction) => instruction.keyword === 'RUN' && /(^|\s)\/out(\s|\/|$)/.test(instruction.args)).map((instruction) => instruction.args)
  const env: Env = {}
  for (const instruction of runtime.filter((candidate) => candidate.keyword === 'ENV')) {
    for (const pair of instruction.args.split(/\s+/)) {
      const [name, ...value] = pair.split('=')
      env[name!] = value.join('=')
    }
  }
  const cmd = runtime.filter((instruction) => instruction.keyword === 'CMD').at(-1)
  return { outputCommands, env, cmd: cmd ? JSON.parse(cmd.args) as string[] : [] }
}

/** Runs the Dockerfile's `/out` commands from the repository root (the build stage's WORKDIR) into `out`. */
export function assembleImage(service: ServiceName, out: string, plan = imagePlan()): void {
  for (const command of plan.outputCommands) {
    execFileSync('sh', ['-c', command.replaceAll('/out', out)], { cwd: repoRoot, env: { ...process.env, SERVICE: service }, stdio: 'pipe' })
  }
}

/** Starts the image's CMD in `dir` (its WORKDIR) with the image's ENV plus `env`, and nothing else. */
export function startImage(dir: string, env: Env, plan = imagePlan()): ServiceProcess {
  const [command, ...args] = plan.cmd
  const script = args.at(-1)
  if (command !== 'node' || !script) throw new Error(`the image's CMD must start node directly, got ${JSON.stringify(plan.cmd)}`)
  return spawnService(join(dir, script), { ...plan.env, ...env }, { cwd: dir, execArgv: args.slice(0, -1) })
}

/** Polls until `GET url` answers 200 or the deadline passes; returns the last status (0: no answer). */
export async function statusWhenReady(url: string, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let status = 0
  while (Date.now() < deadline) {
    status = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then((response) => response.status, () => 0)
    if (status === 200) return status
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return status
}

// --- what a rendered Deployment's container gets --------------------------------------------------

type EnvEntry = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } } }
type EnvFrom = { configMapRef?: { name: string }; secretRef?: { name: string } }
type Data = { data?: Record<string, string>; stringData?: Record<string, string> }

/**
 * The environment Kubernetes gives the Deployment's first container: envFrom (ConfigMaps, Secrets)
 * then env (later wins), with `$(VAR)` expanded. A Secret or key not in the render (created with
 * kubectl, or by an operator) comes from `external` under `<secret>/<key>`, as a real one would read.
 */
export function containerEnvironment(deployment: K8sObject, objects: K8sObject[], external: Env): Env {
  const container = (deployment.spec as { template: { spec: { containers: { env?: EnvEntry[]; envFrom?: EnvFrom[] }[] } } }).template.spec.containers[0]!
  const find = (kind: string, name: string) => objects.find((object) => object.kind === kind && object.metadata.name === name) as (K8sObject & Data) | undefined
  const values = (object: (K8sObject & Data) | undefined): Env => ({
    ...Object.fromEntries(Object.entries(object?.data ?? {}).map(([key, value]) => [key, object?.kind === 'Secret' ? Buffer.from(value, 'base64').toString() : value])),
    ...object?.stringData,
  })
  const secretKey = (name: string, key: string): string => {
    const rendered = values(find('Secret', name))[key] ?? external[`${name}/${key}`]
    if (rendered === undefined) throw new Error(`${deployment.metadata.name}: Secret ${name} key ${key} is neither rendered nor given as an example`)
    return rendered
  }
  const env: Env = {}
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, values(find('ConfigMap', source.configMapRef.name)))
    if (source.secretRef) {
      const secret = find('Secret', source.secretRef.name)
      Object.assign(env, secret ? values(secret) : Object.fromEntries(Object.entries(external).filter(([key]) => key.startsWith(`${source.secretRef!.name}/`)).map(([key, value]) => [key.slice(key.indexOf('/') + 1), value])))
    }
  }
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) env[entry.name] = entry.value.replace(/\$\((\w+)\)/g, (match, name: string) => env[name] ?? match)
    else if (entry.valueFrom?.secretKeyRef) env[entry.name] = secretKey(entry.valueFrom.secretKeyRef.name, entry.valueFrom.secretKeyRef.key)
    else if (entry.valueFrom?.configMapKeyRef) env[entry.name] = values(find('ConfigMap', entry.valueFrom.configMapKeyRef.name))[entry.valueFrom.configMapKeyRef.key] ?? ''
  }
  return env
}

// --- README "Run the stack" ------------------------------------------------------------------------

export interface ReadmeRequest { url: string; method: string; headers: Record<string, string>; body?: string }

/** Splits a shell command line into words (single and double quotes, no expansions). */
function shellWords(line: string): string[] {
  const words: string[] = []
  for (const match of line.matchAll(/'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g)) words.push(match[1] ?? match[2] ?? match[3]!)
  return words
}

/** The README's "Run the stack" commands, continuation lines joined: the `curl` requests and the rest. */
export function readmeStackCommands(): { requests: ReadmeRequest[]; others: string[] } {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const section = /^## Run the stack\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? ''
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? ''
  const lines = block.replace(/\\\n\s*/g, '').split('\n').map((line) => line.trim()).filter(Boolean)
  const requests: ReadmeRequest[] = []
  const others: string[] = []
  for (const line of lines) {
    if (!line.startsWith('curl ')) {
      others.push(line)
      continue
    }
    const words = shellWords(line.replace(/\s+#.*$/, ''))
    const request: ReadmeRequest = { url: '', method: 'GET', headers: {} }
    for (let index = 1; index < words.length; index++) {
      const word = words[index]!
      if (word === '-H') {
        const [name, ...value] = words[++index]!.split(':')
        request.headers[name!.trim().toLowerCase()] = value.join(':').trim()
      } else if (word === '-d') {
        request.body = words[++index]!
        request.method = 'POST'
      } else if (word === '-X') request.method = words[++index]!
      else if (!word.startsWith('-')) request.url = /^https?:/.test(word) ? word : `http://${word}`
    }
    requests.push(request)
  }
  return { requests, others }
}
