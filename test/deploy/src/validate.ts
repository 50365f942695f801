import { readFileSync } from 'node:fs'
import { Ajv, type ValidateFunction } from 'ajv'
import type { K8sObject } from './kustomize.js'

const schemaDir = new URL('../schemas/', import.meta.url)
const ajv = new Ajv({ allErrors: true, strict: false })
/** Custom resources whose CRDs no npm package carries: a vendored schema of the fields k8s/ uses. */
const vendored: Record<string, ValidateFunction> = {
  'rabbitmq.com/v1beta1': ajv.compile(JSON.parse(readFileSync(new URL('rabbitmqcluster.schema.json', schemaDir), 'utf8'))),
  'azmonitoring.coreos.com/v1': ajv.compile(JSON.parse(readFileSync(new URL('servicemonitor.schema.json', schemaDir), 'utf8'))),
}

/** The models module for an apiVersion: Kubernetes' own groups, and KEDA's. */
async function modelsFor(apiVersion: string): Promise<Record<string, unknown>> {
  if (apiVersion.startsWith('keda.sh/')) return import(`@kubernetes-models/keda/${apiVersion}`) as Promise<Record<string, unknown>>
  return import(`kubernetes-models/${apiVersion}`) as Promise<Record<string, unknown>>
}

/** Throws with the schema's message when the object is not a valid instance of its kind. */
export async function validateObject(object: K8sObject): Promise<void> {
  const validateVendored = vendored[object.apiVersion]
  if (validateVendored) {
    if (!validateVendored(object)) throw new Error(ajv.errorsText(validateVendored.errors))
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
