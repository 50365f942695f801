import { readFileSync } from 'node:fs'
import { Ajv, type ValidateFunction } from 'ajv'
import type { K8sObject } from './kustomize.js'

const schemaDir = new URL('../schemas/', import.meta.url)
const ajv = new Ajv({ allErrors: true, strict: false })
const vendored = (file: string) => ajv.compile(JSON.parse(readFileSync(new URL(file, schemaDir), 'utf8')))
/** Custom resources: only the fields k8s/ uses, unknown ones refused (schemas/, see its README). */
const customResources: Record<string, ValidateFunction> = {
  'rabbitmq.com/v1beta1 RabbitmqCluster': vendored('rabbitmqcluster.schema.json'),
  'gateway.networking.k8s.io/v1 Gateway': vendored('gateway.schema.json'),
  'gateway.networking.k8s.io/v1 HTTPRoute': vendored('httproute.schema.json'),
  'secrets-store.csi.x-k8s.io/v1 SecretProviderClass': vendored('secretproviderclass.schema.json'),
  'azmonitoring.coreos.com/v1 ServiceMonitor': vendored('servicemonitor.schema.json'),
}

/** The models module for an apiVersion: Kubernetes' own groups, and KEDA's. */
async function modelsFor(apiVersion: string): Promise<Record<string, unknown>> {
  if (apiVersion.startsWith('keda.sh/')) return import(`@kubernetes-models/keda/${apiVersion}`) as Promise<Record<string, unknown>>
  return import(`kubernetes-models/${apiVersion}`) as Promise<Record<string, unknown>>
}

/** Throws with the schema's message when the object is not a valid instance of its kind. */
export async function validateObject(object: K8sObject): Promise<void> {
  const custom = customResources[`${object.apiVersion} ${object.kind}`]
  if (custom) {
    if (!custom(object)) throw new Error(ajv.errorsText(custom.errors))
    return
  }
  const models = await modelsFor(object.apiVersion).catch(() => {
    throw new Error(`no schema for apiVersion ${object.apiVersion}`)
  })
  const Model = models[object.kind] as (new (data: unknown) => { validate(): void }) | undefined
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`)
  new Model(object).validate()
}

/** The compose-spec schema (vendored); compose's own formats (durations, ports) are not checked here. */
export function validateCompose(document: unknown): string | undefined {
  const compose = new Ajv({ allErrors: true, strict: false, validateFormats: false })
  // Its $schema is draft-07 spelled https://…/schema, which Ajv knows as http://…/schema#.
  const { $schema: _draft, ...schema } = JSON.parse(readFileSync(new URL('compose-spec.json', schemaDir), 'utf8')) as Record<string, unknown>
  const validate = compose.compile(schema)
  return validate(document) ? undefined : compose.errorsText(validate.errors, { separator: '\n' })
}
