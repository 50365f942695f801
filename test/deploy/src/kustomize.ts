import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'

/**
 * A small kustomize, for machines without kubectl (CI installs nothing from outside npm and Debian,
 * and Debian's kubectl is too old for components). It implements exactly the features k8s/ uses:
 * resources (files and directories), components, namespace, images, and patches (strategic merge,
 * with `$patch: delete`, or inline JSON 6902: add, replace, remove, test) selected by path or by target kind/name/labelSelector.
 * Any other kustomization field is refused, so a new feature cannot be silently ignored; where
 * kubectl exists, the tests check that both render the same objects.
 */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown }; [key: string]: unknown }

const supported = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'components', 'images', 'patches'])

/** Kinds that are not namespaced, among those k8s/ could contain. */
export const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'IngressClass'])

/** Lists merged by a key in strategic merge patches (the Kubernetes API's patchMergeKey). */
const mergeKeys: Record<string, string> = {
  containers: 'name', initContainers: 'name', env: 'name', volumes: 'name', volumeMounts: 'mountPath',
  ports: 'containerPort', imagePullSecrets: 'name', tolerations: 'key',
}

interface Patch { path?: string; patch?: string; target?: { kind?: string; name?: string; labelSelector?: string } }
interface Kustomization { namespace?: string; resources?: string[]; components?: string[]; images?: { name: string; newName?: string; newTag?: string }[]; patches?: Patch[] }

export function readYamlObjects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((document) => {
    if (document.errors.length) throw new Error(`${file}: ${document.errors[0]!.message}`)
    return document.toJS() as K8sObject
  }).filter((object) => object !== null)
}

function readKustomization(dir: string): Kustomization {
  const file = join(dir, 'kustomization.yaml')
  if (!existsSync(file)) throw new Error(`${dir} has no kustomization.yaml`)
  const [kustomization] = readYamlObjects(file) as unknown as Record<string, unknown>[]
  for (const key of Object.keys(kustomization!)) {
    if (!supported.has(key)) throw new Error(`${file}: "${key}" is not supported by the built-in renderer (test/deploy/src/kustomize.ts); add it there`)
  }
  return kustomization as Kustomization
}

/** Renders a kustomization directory (base, overlay or component) like `kubectl kustomize`. */
export function renderKustomization(dir: string): K8sObject[] {
  const kustomization = readKustomization(dir)
  let objects: K8sObject[] = []
  for (const entry of kustomization.resources ?? []) {
    const path = resolve(dir, entry)
    objects.push(...(statSync(path).isDirectory() ? renderKustomization(path) : readYamlObjects(path)))
  }
  for (const component of kustomization.components ?? []) objects = applyComponent(resolve(dir, component), objects)
  objects = applyPatches(dir, kustomization.patches ?? [], objects)
  for (const image of kustomization.images ?? []) objects.forEach((object) => setImage(object, image))
  if (kustomization.namespace) {
    for (const object of objects) if (!clusterScoped.has(object.kind)) object.metadata.namespace = kustomization.namespace
  }
  return objects
}

function applyComponent(dir: string, objects: K8sObject[]): K8sObject[] {
  const component = readKustomization(dir)
  const added = (component.resources ?? []).flatMap((entry) => readYamlObjects(resolve(dir, entry)))
  return applyPatches(dir, component.patches ?? [], [...objects, ...added])
}

function applyPatches(dir: string, patches: Patch[], objects: K8sObject[]): K8sObject[] {
  let result = objects
  for (const patch of patches) {
    const text = patch.path ? readFileSync(resolve(dir, patch.path), 'utf8') : patch.patch ?? ''
    const documents = parseAllDocuments(text).map((document) => document.toJS())
    if (Array.isArray(documents[0])) {
      for (const object of result.filter((candidate) => matches(candidate, patch.target))) applyJson6902(object, documents[0])
      continue
    }
    for (const document of documents as K8sObject[]) {
      const target = patch.target ?? { kind: document.kind, name: document.metadata.name }
      if (document.$patch === 'delete') {
        result = result.filter((object) => !matches(object, target))
        continue
      }
      const { metadata, ...body } = document
      const { name: _name, ...metadataChanges } = metadata
      result = result.map((object) => matches(object, target)
        ? mergeStrategic(object, patch.target ? { ...body, metadata: metadataChanges } : document) as K8sObject
        : object)
    }
  }
  return result
}

function matches(object: K8sObject, target: Patch['target']): boolean {
  if (!target) return true
  if (target.kind && object.kind !== target.kind) return false
  if (target.name && object.metadata.name !== target.name) return false
  if (target.labelSelector) {
    return target.labelSelector.split(',').every((term) => {
      const [key, value] = term.split('=')
      return object.metadata.labels?.[key!.trim()] === value?.trim()
    })
  }
  return true
}

function mergeStrategic(original: unknown, patch: unknown, field = ''): unknown {
  if (Array.isArray(patch) && Array.isArray(original) && mergeKeys[field]) {
    const key = mergeKeys[field]!
    const patched = patch.map((item) => {
      const existing = original.find((candidate) => candidate?.[key] === item?.[key])
      return existing ? mergeStrategic(existing, item) : item
    })
    const untouched = original.filter((item) => !patch.some((candidate) => candidate?.[key] === item?.[key]))
    return [...patched, ...untouched]
  }
  if (isRecord(patch) && isRecord(original)) {
    const merged: Record<string, unknown> = { ...original }
    for (const [name, value] of Object.entries(patch)) {
      if (value === null) delete merged[name]
      else merged[name] = name in original ? mergeStrategic(original[name], value, name) : value
    }
    return merged
  }
  return patch
}

function applyJson6902(object: K8sObject, operations: { op: string; path: string; value?: unknown }[]): void {
  for (const { op, path, value } of operations) {
    const keys = path.split('/').slice(1).map((key) => key.replaceAll('~1', '/').replaceAll('~0', '~'))
    const last = keys.pop()!
    let parent: Record<string, unknown> = object
    for (const key of keys) {
      if (!isRecord(parent[key]) && !Array.isArray(parent[key])) throw new Error(`${object.kind}/${object.metadata.name}: JSON patch path ${path} does not exist`)
      parent = parent[key] as Record<string, unknown>
    }
    if (op === 'test') {
      if (JSON.stringify(parent[last]) !== JSON.stringify(value)) throw new Error(`${object.kind}/${object.metadata.name}: JSON patch test of ${path} failed`)
    } else if (op === 'remove') delete parent[last]
    else if (op === 'replace' || op === 'add') {
      if (op === 'replace' && !(last in parent)) throw new Error(`${object.kind}/${object.metadata.name}: cannot replace missing ${path}`)
      parent[last] = value
    } else throw new Error(`JSON patch op "${op}" is not supported by the built-in renderer`)
  }
}

function setImage(object: K8sObject, image: { name: string; newName?: string; newTag?: string }): void {
  const pod = (object.spec as { template?: { spec?: { containers?: { image: string }[]; initContainers?: { image: string }[] } } } | undefined)?.template?.spec
  for (const container of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
    const [name, tag] = splitImage(container.image)
    if (name === image.name) container.image = `${image.newName ?? name}${image.newTag ? `:${image.newTag}` : tag ? `:${tag}` : ''}`
  }
}

function splitImage(image: string): [string, string | undefined] {
  const slash = image.lastIndexOf('/')
  const colon = image.lastIndexOf(':')
  return colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, undefined]
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** kubectl from KUBECTL or the PATH, if it can render kustomizations with components; else undefined. */
export function findKubectl(): string | undefined {
  const candidates = [process.env.KUBECTL, ...(process.env.PATH ?? '').split(':').map((dir) => join(dir, 'kubectl'))]
  for (const candidate of candidates) {
    if (!candidate || !existsSync(candidate)) continue
    try {
      const version = execFileSync(candidate, ['version', '--client', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      const minor = Number.parseInt((JSON.parse(version) as { clientVersion: { minor: string } }).clientVersion.minor, 10)
      if (minor >= 21) return candidate // kustomize v4+ (components) is embedded from 1.21 on
    } catch {
      // not a usable kubectl
    }
  }
  return undefined
}

export function renderWithKubectl(kubectl: string, dir: string): K8sObject[] {
  const output = execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  return parseAllDocuments(output).map((document) => document.toJS() as K8sObject).filter(Boolean)
}

export const repoRoot = resolve(dirname(new URL(import.meta.url).pathname), '../../..')
